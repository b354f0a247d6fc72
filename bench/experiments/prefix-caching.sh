#!/usr/bin/env bash
# Reproduces docs/experiments/prefix-caching.md: the multi-turn chat workload (`--workload multiturn`: a shared
# system prompt, each turn resending the history) against Tandem with the prefix cache off and on, disaggregated
# (1 prefill core + 1 decode core) and colocated (both cores); cache-aware against round-robin routing over two
# colocated 1-core instances; the hit rate against the KV cache size; and the cache with a RAM -> disk tier under a RAM
# cache too small for the workload, against the same RAM cache alone. Writes JSON reports, server logs and summary.md
# (the tables of the doc) to $OUT.
#
#   bench/experiments/prefix-caching.sh [OUT_DIR]
#
# Knobs (environment): MODEL, RATES, NUM_PROMPTS, TURNS, SYSTEM_LEN, INPUT_LEN, OUTPUT_LEN, THINK, SLO_TTFT, SLO_TPOT,
# SEED, PORT, TOKEN_ID_MAX, KV_SIZES (MiB per instance for the cache-size sweep), SIZE_RATE, LOCAL_THRESHOLDS (conditional
# disaggregation: one run per --local-prefill-threshold, labelled disaggregated-local-N), BUSY_TOKENS (one run per
# --prefill-busy-tokens B with the first of LOCAL_THRESHOLDS, labelled disaggregated-busy-B; none by default), DISK_KV_SIZE (MiB of RAM KV per
# instance in the disk-tier runs), GOODPUT=1 (instead of the fixed rates, each configuration searches its goodput in
# conversations per second from the first of RATES: 90% attainment, GOODPUT_PRECISION, MAX_RATE; writes LABEL.goodput.*),
# DISK_SIZE (--kv-disk-size), DISK_POLICY (--kv-disk-policy: auto or always), ONLY
# (space-separated labels: run only those configurations).
#
# The --local-prefill-threshold sweep of the doc (disaggregated, cache on: off against thresholds):
#   ONLY="disaggregated-on disaggregated-local-16 disaggregated-local-32 disaggregated-local-64 disaggregated-local-128" \
#   LOCAL_THRESHOLDS="16 32 64 128" NUM_PROMPTS=24 RATES=0.5 TURNS=4 SYSTEM_LEN=128 INPUT_LEN=32 OUTPUT_LEN=16 THINK=0.5 \
#   SLO_TTFT=2 SLO_TPOT=0.2 bench/experiments/prefix-caching.sh artifacts/s5-prefix/threshold
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-artifacts/prefix-cache/prefix-caching}
MODEL=${MODEL:-artifacts/models/smollm-135m-q8_0.gguf}
RATES=${RATES:-0.25,0.5}
NUM_PROMPTS=${NUM_PROMPTS:-48}
TURNS=${TURNS:-4}
SYSTEM_LEN=${SYSTEM_LEN:-256}
INPUT_LEN=${INPUT_LEN:-64}
OUTPUT_LEN=${OUTPUT_LEN:-32}
THINK=${THINK:-1}
SLO_TTFT=${SLO_TTFT:-1.5}
SLO_TPOT=${SLO_TPOT:-0.1}
SEED=${SEED:-1}
PORT=${PORT:-8131}
TOKEN_ID_MAX=${TOKEN_ID_MAX:-40000}
KV_SIZES=${KV_SIZES:-32 48 96 256}
SIZE_RATE=${SIZE_RATE:-0.5}
LOCAL_THRESHOLDS=${LOCAL_THRESHOLDS:-64}
BUSY_TOKENS=${BUSY_TOKENS:-}
GOODPUT=${GOODPUT:-0}
GOODPUT_PRECISION=${GOODPUT_PRECISION:-0.1}
MAX_RATE=${MAX_RATE:-4}
DISK_KV_SIZE=${DISK_KV_SIZE:-32}
DISK_SIZE=${DISK_SIZE:-2GiB}
DISK_POLICY=${DISK_POLICY:-auto}
ONLY=${ONLY:-}
mkdir -p "$OUT" "$(dirname "$MODEL")"

dotnet build src/Tandem.Cli -c Release -v q -nologo >/dev/null
# A private copy: rebuilding the worktree while the script runs must not swap the binaries of later configurations.
rm -rf "$OUT/.tandem" && cp -r src/Tandem.Cli/bin/Release/net10.0 "$OUT/.tandem"
TANDEM="dotnet $OUT/.tandem/tandem.dll"
if [ ! -f "$MODEL" ]; then
  $TANDEM model synth --preset smollm-135m --type q8_0 --vocab-from ../shared/models/vocab/ggml-vocab-gpt-2.gguf -o "$MODEL"
fi

SERVER_PID=
stop_server() { if [ -n "$SERVER_PID" ]; then kill -TERM "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=; fi; }
trap stop_server EXIT

run() { # label, rates, serve options...
  local label=$1 rates=$2; shift 2
  if [ -n "$ONLY" ] && [[ " $ONLY " != *" $label "* ]]; then return; fi
  if curl -sf "http://127.0.0.1:$PORT/health" >/dev/null; then echo "port $PORT is already serving: stop that server first" >&2; exit 1; fi
  $TANDEM serve --model "$MODEL" --port "$PORT" --kv-type f32 "$@" > "$OUT/$label.server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 240); do
    curl -sf "http://127.0.0.1:$PORT/health/ready" >/dev/null && break
    kill -0 "$SERVER_PID" 2>/dev/null || { echo "server failed to start, see $OUT/$label.server.log" >&2; exit 1; }
    sleep 0.5
  done
  echo "== $label (load average: $(cut -d' ' -f1-3 /proc/loadavg))" | tee "$OUT/$label.load"
  local bench=($TANDEM bench serve --base-url "http://127.0.0.1:$PORT" --label "$label" --workload multiturn --token-ids --token-id-min 3
    --token-id-max "$TOKEN_ID_MAX" --turns "$TURNS" --system-len "$SYSTEM_LEN" --input-len "$INPUT_LEN" --output-len "$OUTPUT_LEN"
    --think-time "$THINK" -n "$NUM_PROMPTS" --seed "$SEED" --slo-ttft "$SLO_TTFT" --slo-tpot "$SLO_TPOT" --devices 2)
  if [ "$GOODPUT" = 1 ]; then
    # Every probe draws its own conversations and system prompt (a seed per run), so no probe finds another's KV cached.
    "${bench[@]}" --goodput --rate "${rates%%,*}" --precision "$GOODPUT_PRECISION" --max-rate "$MAX_RATE" \
      --out "$OUT/$label.goodput.json" > "$OUT/$label.goodput.txt"
  else
    "${bench[@]}" --rates "$rates" --out "$OUT/$label.json" > "$OUT/$label.txt"
  fi
  curl -sf "http://127.0.0.1:$PORT/metrics" > "$OUT/$label.metrics" || true
  echo "   after: load average $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/$label.load"
  stop_server
}

# Cache off / on, disaggregated and colocated (256 MiB of KV per instance: nothing is evicted). Disaggregated runs
# name their --local-prefill-threshold (default 64 since the quiet run of the doc; the runs there used 0 unless labelled).
run disaggregated-off "$RATES" --mode disaggregated --cores "0;1" --kv-memory 256MiB --no-prefix-caching --local-prefill-threshold 0
run disaggregated-on "$RATES" --mode disaggregated --cores "0;1" --kv-memory 256MiB --local-prefill-threshold 0
# Conditional disaggregation: later turns (history cached on the decode instance) prefilled there.
for t in $LOCAL_THRESHOLDS; do
  run "disaggregated-local-$t" "$RATES" --mode disaggregated --cores "0;1" --kv-memory 256MiB --local-prefill-threshold "$t"
done
# ... and with any remainder prefilled there while the prefill instance is busy (--prefill-busy-tokens).
for b in $BUSY_TOKENS; do
  run "disaggregated-busy-$b" "$RATES" --mode disaggregated --cores "0;1" --kv-memory 256MiB \
    --local-prefill-threshold "${LOCAL_THRESHOLDS%% *}" --prefill-busy-tokens "$b"
done
run colocated-off "$RATES" --mode colocated --cores "0,1" --kv-memory 256MiB --no-prefix-caching
run colocated-on "$RATES" --mode colocated --cores "0,1" --kv-memory 256MiB
# Routing over two colocated 1-core instances, cache on.
run route-cache-aware "$RATES" --mode colocated --instances 2 --cores "0;1" --kv-memory 256MiB --routing cache-aware
run route-round-robin "$RATES" --mode colocated --instances 2 --cores "0;1" --kv-memory 256MiB --routing round-robin
# Hit rate against cache size (colocated, one rate).
for mib in $KV_SIZES; do
  run "size-${mib}MiB" "$SIZE_RATE" --mode colocated --cores "0,1" --kv-memory "${mib}MiB"
done

# Cache on + disk tier: a RAM cache too small to keep every history until its next turn (DISK_KV_SIZE MiB per
# instance), alone and with a disk tier in a fresh directory (one per process). One rate.
for mode in colocated disaggregated; do
  cores=$([ $mode = colocated ] && echo "0,1" || echo "0;1")
  run "disk-$mode-ram-only" "$SIZE_RATE" --mode $mode --cores "$cores" --kv-memory "${DISK_KV_SIZE}MiB" --local-prefill-threshold 0
  rm -rf "$OUT/kv-disk-$mode"
  run "disk-$mode" "$SIZE_RATE" --mode $mode --cores "$cores" --kv-memory "${DISK_KV_SIZE}MiB" --local-prefill-threshold 0 \
    --kv-disk-dir "$OUT/kv-disk-$mode" --kv-disk-size "$DISK_SIZE" --kv-disk-policy "$DISK_POLICY"
done

python3 bench/experiments/prefix-caching-summary.py "$OUT" > "$OUT/summary.md"
cat "$OUT/summary.md"
