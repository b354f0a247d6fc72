#!/usr/bin/env bash
# Reproduces docs/experiments/structured-output.md: decode tokens/s with and without structured output (free text,
# response_format json_object, a JSON Schema) at batch 1 and 16 on the SmolLM-135M-shaped model with GPT-2's
# 50,257-token vocabulary (bench/structured-output/throughput.cs). About 2.5 minutes per mode.
#
#   bench/experiments/structured-output.sh [OUT_DIR]
#
# Knobs (environment): MODEL, BATCHES (1,16), RUN_SECONDS (20 per run; not SECONDS, which bash sets itself), MODES (disaggregated).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-docs/experiments/structured-output}
MODEL=${MODEL:-artifacts/models/smollm-135m-q8_0.gguf}
BATCHES=${BATCHES:-1,16}
SECONDS_PER_RUN=${RUN_SECONDS:-20}
MODES=${MODES:-disaggregated}
mkdir -p "$OUT" "$(dirname "$MODEL")"

if [ ! -f "$MODEL" ]; then
  dotnet build src/Tandem.Cli -c Release -v q -nologo >/dev/null
  dotnet src/Tandem.Cli/bin/Release/net10.0/tandem.dll model synth --preset smollm-135m --type q8_0 \
    --vocab-from ../shared/models/vocab/ggml-vocab-gpt-2.gguf -o "$MODEL"
fi
for mode in ${MODES//,/ }; do
  echo "load average before: $(cat /proc/loadavg)"
  dotnet run -c Release bench/structured-output/throughput.cs -- "$MODEL" "$OUT/throughput-$mode.json" "$BATCHES" "$SECONDS_PER_RUN" "$mode" \
    | tee "$OUT/throughput-$mode.txt"
  echo "load average after: $(cat /proc/loadavg)"
done
