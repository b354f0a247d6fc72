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
OUT=${1:-artifacts/disaggregation-on-cpu}
MODEL=${MODEL:-artifacts/models/smollm-135m-q8_0.gguf}
RATES=${RATES:-0.3,0.6,0.9,1.2}
NUM_PROMPTS=${NUM_PROMPTS:-30}
INPUT_LEN=${INPUT_LEN:-128}
OUTPUT_LEN=${OUTPUT_LEN:-32}
SLO_TTFT=${SLO_TTFT:-2.5}
SLO_TPOT=${SLO_TPOT:-0.04}
SEED=${SEED:-1}
PORT=${PORT:-8123}
TOKEN_ID_MAX=${TOKEN_ID_MAX:-40000}
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
  $TANDEM bench serve --base-url "http://127.0.0.1:$PORT" --label "$label" --workload fixed --token-ids --token-id-min 3 --token-id-max "$TOKEN_ID_MAX" \
    --input-len "$INPUT_LEN" --output-len "$OUTPUT_LEN" -n "$NUM_PROMPTS" --rates "$RATES" --seed "$SEED" \
    --slo-ttft "$SLO_TTFT" --slo-tpot "$SLO_TPOT" --devices 2 --out "$OUT/$label.json" | tee "$OUT/$label.txt"
  $TANDEM bench serve --base-url "http://127.0.0.1:$PORT" --label "$label" --workload fixed --token-ids --token-id-min 3 --token-id-max "$TOKEN_ID_MAX" \
    --input-len "$INPUT_LEN" --output-len "$OUTPUT_LEN" -n "$NUM_PROMPTS" --goodput --rate 0.6 --precision 0.1 --max-rate 4 --seed "$SEED" \
    --slo-ttft "$SLO_TTFT" --slo-tpot "$SLO_TPOT" --devices 2 --out "$OUT/$label.goodput.json" | tee "$OUT/$label.goodput.txt"
  stop_servers
}

run_mode disaggregated --mode disaggregated --cores "0;1"
run_mode colocated --mode colocated --cores "0,1"
run_mode chunked --mode chunked --cores "0,1" --chunk-budget "$CHUNK_BUDGET"

$TANDEM bench plot "$OUT/disaggregated.json" "$OUT/colocated.json" "$OUT/chunked.json" -o "$OUT"
echo "reports and plots in $OUT"
