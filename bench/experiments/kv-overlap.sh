#!/usr/bin/env bash
# KV transfer overlapped with prefill (the frontend's --kv-overlap) against pull after prefill, for long prompts on the
# SmolLM-135M shape, on loopback (docs/experiments/scale-out.md, "Overlap of transfer with prefill"). A prefill and a
# decode worker behind their own Kestrel ports and a frontend (bench/scale-out/kv-transfer.cs), over gRPC and shared
# memory, each with and without overlap: TTFT, time to the second token, the transfer, and its exposed part (prefill end
# to KV imported) with its share of end-to-end latency, per request, in JSON. One command:
#
#   bench/experiments/kv-overlap.sh [OUT_DIR]     (default docs/experiments/scale-out/overlap)
#
# Knobs (environment): MODEL (artifacts/models/smollm-135m-q8_0.gguf, synthesized when missing), LENGTHS (1024,2048),
# REPEATS (3), OUTPUT (32 output tokens), PREFILL_TOKEN_TARGET (512: the prefill's chunk, so a 2048-token prompt is 4
# chunks), PATHS (grpc-loopback grpc-loopback+overlap shm shm+overlap). The load average goes beside the results.
set -euo pipefail
case ${1:-} in -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;; esac
cd "$(dirname "$0")/../.."
. bench/experiments/lib.sh
OUT=${1:-docs/experiments/scale-out/overlap}
MODEL=${MODEL:-artifacts/models/smollm-135m-q8_0.gguf}
LENGTHS=${LENGTHS:-1024,2048}
REPEATS=${REPEATS:-3}
export OUTPUT=${OUTPUT:-32} PREFILL_TOKEN_TARGET=${PREFILL_TOKEN_TARGET:-512}
PATHS=${PATHS:-grpc-loopback grpc-loopback+overlap shm shm+overlap}
mkdir -p "$OUT"
tandem_build
ensure_model "$MODEL" smollm-135m q8_0
name=$(basename "$MODEL" .gguf)
stamp=$(date -u +%Y-%m-%dT%H%M)
echo "$stamp $name: load average before $(loadavg)" | tee -a "$OUT/load.txt"
# shellcheck disable=SC2086 # PATHS is a list
dotnet run -c Release bench/scale-out/kv-transfer.cs -- "$MODEL" "$OUT/kv-overlap-$name-$stamp.json" "$LENGTHS" "$REPEATS" $PATHS \
  | tee "$OUT/kv-overlap-$name-$stamp.txt"
echo "$stamp $name: load average after $(loadavg)" | tee -a "$OUT/load.txt"
bench/scale-out/kv-transfer-table.py "$OUT/kv-overlap-$name-$stamp.json"
