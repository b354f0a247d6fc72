#!/usr/bin/env bash
# Goodput of 1 prefill + 1 decode worker as separate processes (a `--role frontend` process in front of a
# `--role prefill` on core 0 and a `--role decode` on core 1, KV pulled over gRPC on loopback) against the in-process
# disaggregated runtime (`--mode disaggregated --cores "0;1"`), on the workload of docs/experiments/disaggregation-on-cpu.md:
# 30 requests of exactly 128 prompt tokens (token ids) and 32 output tokens, Poisson arrivals (seed 1) at 0.3-1.2 req/s,
# SLOs TTFT <= 2.5 s and TPOT <= 40 ms, a goodput bisection (90% attainment, precision 0.1 req/s) per deployment, F32 KV,
# 256 MiB of KV per instance. Writes JSON reports, the load average beside each, and plots to OUT_DIR.
#
#   bench/experiments/scale-out-goodput.sh [OUT_DIR]        # default docs/experiments/scale-out/goodput
#
# Knobs (environment): MODEL (the SmolLM-135M shape, Q8_0; synthesized when missing), DEPLOYMENTS ("in-process cluster"),
# RATES, NUM_PROMPTS, INPUT_LEN, OUTPUT_LEN, SLO_TTFT, SLO_TPOT, SEED, PORT, TOKEN_ID_MAX, SKIP_GOODPUT_SEARCH=1 (rates only),
# KV_TRANSPORT (the decode worker's --kv-transport: grpc, or auto for shared memory).
set -euo pipefail
case ${1:-} in -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;; esac
cd "$(dirname "$0")/../.."
. bench/experiments/lib.sh
disaggregation_workload
OUT=${1:-docs/experiments/scale-out/goodput}
MODEL=${MODEL:-artifacts/models/smollm-135m-q8_0.gguf}
DEPLOYMENTS=${DEPLOYMENTS:-in-process cluster}
KV_TRANSPORT=${KV_TRANSPORT:-grpc}
export TANDEM_CLUSTER_TOKEN=${TANDEM_CLUSTER_TOKEN:-scale-out-bench}
mkdir -p "$OUT"
tandem_build
ensure_model "$MODEL" smollm-135m q8_0

bench() { # label
  echo "load average before $1: $(loadavg)" | tee "$OUT/$1.load.txt"
  bench_rates_and_goodput "http://127.0.0.1:$PORT" "$1" "$OUT"
  echo "load average after $1: $(loadavg)" | tee -a "$OUT/$1.load.txt"
}

COMMON=(--model "$MODEL" --kv-type f32 --kv-memory 256MiB)
reports=()
for d in $DEPLOYMENTS; do
  if port_in_use "$PORT"; then echo "port $PORT is already serving: stop that server first" >&2; exit 1; fi
  case $d in
    in-process)
      start_server "$OUT/in-process.server.log" $TANDEM serve "${COMMON[@]}" --port "$PORT" --mode disaggregated --cores "0;1"
      wait_ready "http://127.0.0.1:$PORT" in-process /health/ready ;;
    cluster)
      start_server "$OUT/cluster.prefill.log" $TANDEM serve "${COMMON[@]}" --role prefill --port $((PORT + 1)) --cores 0
      wait_ready "http://127.0.0.1:$((PORT + 1))" "prefill worker" /health/ready
      start_server "$OUT/cluster.decode.log" $TANDEM serve "${COMMON[@]}" --role decode --port $((PORT + 2)) --cores 1 --kv-transport "$KV_TRANSPORT"
      wait_ready "http://127.0.0.1:$((PORT + 2))" "decode worker" /health/ready
      start_server "$OUT/cluster.frontend.log" $TANDEM serve "${COMMON[@]}" --role frontend --port "$PORT" \
        --prefill-workers "127.0.0.1:$((PORT + 1))" --decode-workers "127.0.0.1:$((PORT + 2))"
      wait_ready "http://127.0.0.1:$PORT" cluster /health/ready ;;
    *) echo "unknown deployment $d (in-process, cluster)" >&2; exit 2 ;;
  esac
  bench "$d"
  stop_servers
  reports+=("$OUT/$d.json")
done

$TANDEM bench plot "${reports[@]}" -o "$OUT"
echo "reports and plots in $OUT"
