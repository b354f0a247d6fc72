#!/usr/bin/env bash
# Reproduces docs/experiments/scale-out.md: KV transfer per request in process vs gRPC over loopback
# (bench/scale-out/kv-transfer.cs), and goodput of 1 prefill + 1 decode as processes (frontend + 2 workers) against
# the in-process disaggregated runtime, on the workload of docs/experiments/disaggregation-on-cpu.md.
#
#   bench/experiments/scale-out.sh [OUT_DIR]
#
# Knobs (environment): MODEL, LENGTHS, REPEATS, RATES, NUM_PROMPTS, INPUT_LEN, OUTPUT_LEN, SLO_TTFT, SLO_TPOT, SEED,
# PORT, TOKEN_ID_MAX, SKIP_TRANSFER, SKIP_GOODPUT.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-docs/experiments/scale-out}
MODEL=${MODEL:-artifacts/models/smollm-135m-q8_0.gguf}
LENGTHS=${LENGTHS:-128,512,2048}
REPEATS=${REPEATS:-3}
RATES=${RATES:-0.3,0.6,0.9}
NUM_PROMPTS=${NUM_PROMPTS:-30}
INPUT_LEN=${INPUT_LEN:-128}
OUTPUT_LEN=${OUTPUT_LEN:-32}
SLO_TTFT=${SLO_TTFT:-2.5}
SLO_TPOT=${SLO_TPOT:-0.04}
SEED=${SEED:-1}
PORT=${PORT:-8123}
TOKEN_ID_MAX=${TOKEN_ID_MAX:-40000}
mkdir -p "$OUT" "$(dirname "$MODEL")"

dotnet build src/Tandem.Cli -c Release -v q -nologo >/dev/null
TANDEM="dotnet src/Tandem.Cli/bin/Release/net10.0/tandem.dll"
if [ ! -f "$MODEL" ]; then
  $TANDEM model synth --preset smollm-135m --type q8_0 --vocab-from ../shared/models/vocab/ggml-vocab-gpt-2.gguf -o "$MODEL"
fi

if [ -z "${SKIP_TRANSFER:-}" ]; then
  echo "load average before: $(cat /proc/loadavg)"
  dotnet run -c Release bench/scale-out/kv-transfer.cs -- "$MODEL" "$OUT/kv-transfer-$(basename "$MODEL" .gguf).json" "$LENGTHS" "$REPEATS"
fi
[ -n "${SKIP_GOODPUT:-}" ] && exit 0

PIDS=()
stop_all() { for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill -TERM "$p" 2>/dev/null || true; done; for p in "${PIDS[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null || true; done; PIDS=(); }
trap stop_all EXIT
wait_ready() { # url, log
  for _ in $(seq 1 240); do curl -sf "$1/health/ready" >/dev/null && return 0; sleep 0.5; done
  echo "not ready: see $2" >&2; exit 1
}

bench() { # label
  local label=$1
  echo "load average before $label: $(cat /proc/loadavg)" | tee "$OUT/$label.load.txt"
  $TANDEM bench serve --base-url "http://127.0.0.1:$PORT" --label "$label" --workload fixed --token-ids --token-id-min 3 --token-id-max "$TOKEN_ID_MAX" \
    --input-len "$INPUT_LEN" --output-len "$OUTPUT_LEN" -n "$NUM_PROMPTS" --rates "$RATES" --seed "$SEED" \
    --slo-ttft "$SLO_TTFT" --slo-tpot "$SLO_TPOT" --devices 2 --out "$OUT/$label.json" | tee "$OUT/$label.txt"
  $TANDEM bench serve --base-url "http://127.0.0.1:$PORT" --label "$label" --workload fixed --token-ids --token-id-min 3 --token-id-max "$TOKEN_ID_MAX" \
    --input-len "$INPUT_LEN" --output-len "$OUTPUT_LEN" -n "$NUM_PROMPTS" --goodput --rate 0.6 --precision 0.1 --max-rate 4 --seed "$SEED" \
    --slo-ttft "$SLO_TTFT" --slo-tpot "$SLO_TPOT" --devices 2 --out "$OUT/$label.goodput.json" | tee "$OUT/$label.goodput.txt"
  echo "load average after $label: $(cat /proc/loadavg)" | tee -a "$OUT/$label.load.txt"
}

COMMON=(--model "$MODEL" --kv-type f32 --kv-memory 256MiB)
$TANDEM serve "${COMMON[@]}" --port "$PORT" --mode disaggregated --cores "0;1" > "$OUT/in-process.server.log" 2>&1 &
PIDS+=($!)
wait_ready "http://127.0.0.1:$PORT" "$OUT/in-process.server.log"
bench in-process
stop_all

export TANDEM_CLUSTER_TOKEN=scale-out-bench
$TANDEM serve "${COMMON[@]}" --role prefill --port $((PORT + 1)) --cores 0 > "$OUT/cluster.prefill.log" 2>&1 &
PIDS+=($!)
$TANDEM serve "${COMMON[@]}" --role decode --port $((PORT + 2)) --cores 1 > "$OUT/cluster.decode.log" 2>&1 &
PIDS+=($!)
$TANDEM serve "${COMMON[@]}" --role frontend --port "$PORT" --prefill-workers "127.0.0.1:$((PORT + 1))" --decode-workers "127.0.0.1:$((PORT + 2))" > "$OUT/cluster.frontend.log" 2>&1 &
PIDS+=($!)
wait_ready "http://127.0.0.1:$PORT" "$OUT/cluster.frontend.log"
bench cluster
stop_all

$TANDEM bench plot "$OUT/in-process.json" "$OUT/cluster.json" -o "$OUT"
