#!/usr/bin/env bash
# Reproduces docs/experiments/disaggregation-on-cpu.md: the same workload against Tandem disaggregated
# (1 prefill core + 1 decode core), colocated (vLLM-style, both cores) and chunked prefill (Sarathi-style,
# both cores), on a synthesized SmolLM-135M-shaped model. Writes JSON reports and PNG plots to $OUT.
#
#   bench/experiments/disaggregation-on-cpu.sh [OUT_DIR]
#
# Knobs (environment): MODEL, RATES, NUM_PROMPTS, INPUT_LEN, OUTPUT_LEN, SLO_TTFT, SLO_TPOT, SEED, PORT,
# TOKEN_ID_MAX, CHUNK_BUDGET.
set -euo pipefail
cd "$(dirname "$0")/../.."
. bench/experiments/lib.sh
disaggregation_workload
OUT=${1:-artifacts/disaggregation-on-cpu}
MODEL=${MODEL:-artifacts/models/smollm-135m-q8_0.gguf}
CHUNK_BUDGET=${CHUNK_BUDGET:-64}
mkdir -p "$OUT"

tandem_build
ensure_model "$MODEL" smollm-135m q8_0

run_mode() { # label, serve options...
  local label=$1; shift
  if port_in_use "$PORT"; then echo "port $PORT is already serving: stop that server first" >&2; exit 1; fi
  start_server "$OUT/$label.server.log" $TANDEM serve --model "$MODEL" --port "$PORT" --kv-type f32 --kv-memory 256MiB "$@"
  wait_ready "http://127.0.0.1:$PORT" "$label"
  head -20 "$OUT/$label.server.log"
  bench_rates_and_goodput "http://127.0.0.1:$PORT" "$label" "$OUT"
  stop_servers
}

run_mode disaggregated --mode disaggregated --cores "0;1"
run_mode colocated --mode colocated --cores "0,1"
run_mode chunked --mode chunked --cores "0,1" --chunk-budget "$CHUNK_BUDGET"

$TANDEM bench plot "$OUT/disaggregated.json" "$OUT/colocated.json" "$OUT/chunked.json" -o "$OUT"
echo "reports and plots in $OUT"
