#!/usr/bin/env bash
# The serving yardstick of issue 9 (docs/experiments/vs-llama-server.md): one workload, one client
# (`tandem bench serve`), against llama.cpp's own server built natively (2 threads, 8 slots, continuous batching)
# and against every Tandem mode on the same 2 cores: disaggregated (1 prefill core + 1 decode core), colocated
# (prefill first) and chunked prefill. Each system gets a rate sweep and a goodput bisection; the JSON reports,
# the servers' logs and the plots land in $OUT.
#
#   bench/experiments/vs-llama-server.sh [OUT_DIR]
#
# Needs llama.cpp's llama-server built by bench/llama-cpp/build-and-bench.sh (BUILD_ONLY=1) under $BUILD_DIR.
# Knobs (environment): MODEL (default artifacts/models/smollm-135m-q8_0.gguf, synthesized when missing), RATES,
# NUM_PROMPTS (40), INPUT_LEN (256), OUTPUT_LEN (64), SLO_TTFT (2 s), SLO_TPOT (0.1 s), SEED, PORT, SLOTS (8),
# THREADS (2), CHUNK_BUDGET (64), SYSTEMS (which to run, default "llama-server disaggregated colocated chunked"),
# GOODPUT (1: also bisect goodput), BUILD_DIR (artifacts/llama.cpp), ISA (native), LLAMA_KV (llama-server's KV type:
# f32 as Tandem's runs here, or f16, llama.cpp's default; system "llama-server-f16kv" runs the latter beside;
# system "llama-server-nopoll" runs llama-server with --poll 0: its threads sleep instead of spinning while they wait
# for work, which is what they should do when the client shares their cores; system "llama-server-fa" runs it with F16
# KV and flash attention on, its fastest setting in llama-batched-bench here; system "chunked-f16kv" runs Tandem's
# chunked mode with F16 KV, its serve default, to face it).
#
# With 2 cores the load generator cannot be kept off the measured cores: the client shares them with every
# server, the same way for each system. The load average before and after each system goes into $OUT/load.tsv.
set -euo pipefail
case ${1:-} in -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;; esac
cd "$(dirname "$0")/../.."
. bench/experiments/lib.sh
OUT=${1:-artifacts/vs-llama-server/$(date -u +%Y%m%dT%H%M%SZ)}
MODEL=${MODEL:-artifacts/models/smollm-135m-q8_0.gguf}
RATES=${RATES:-0.25,0.5,0.75,1}
NUM_PROMPTS=${NUM_PROMPTS:-40}
INPUT_LEN=${INPUT_LEN:-256}
OUTPUT_LEN=${OUTPUT_LEN:-64}
SLO_TTFT=${SLO_TTFT:-2}
SLO_TPOT=${SLO_TPOT:-0.1}
SEED=${SEED:-1}
PORT=${PORT:-8124}  # the first system gets PORT+1, the next PORT+2, ...
SLOTS=${SLOTS:-8}
THREADS=${THREADS:-2}
CHUNK_BUDGET=${CHUNK_BUDGET:-64}
SYSTEMS=${SYSTEMS:-llama-server disaggregated colocated chunked}
GOODPUT=${GOODPUT:-1}
BUILD_DIR=${BUILD_DIR:-artifacts/llama.cpp}
ISA=${ISA:-native}
LLAMA_SERVER=$BUILD_DIR/$ISA/bin/llama-server
TOKEN_ID_MAX=${TOKEN_ID_MAX:-40000}
LLAMA_KV=${LLAMA_KV:-f32}
mkdir -p "$OUT"

tandem_build
ensure_model "$MODEL" smollm-135m q8_0
{ echo "date $(date -u +%FT%TZ)"; grep -m1 'model name' /proc/cpuinfo; grep -m1 -o 'avx512[a-z_]*\|avx2' /proc/cpuinfo | sort -u | tr '\n' ' '; echo;
  echo "cores $(nproc)"; uname -srm; dotnet --version; git rev-parse HEAD;
  [ -x "$LLAMA_SERVER" ] && "$LLAMA_SERVER" --version 2>&1 | grep -m1 version; } > "$OUT/machine.txt" || true
printf 'system\tstart_utc\tloadavg_before\tloadavg_after\n' > "$OUT/load.tsv"

bench() { # label, extra bench options...
  local label=$1; shift
  local common=(--base-url "http://127.0.0.1:$PORT" --label "$label" --workload fixed --token-ids --token-id-min 3
    --token-id-max "$TOKEN_ID_MAX" --input-len "$INPUT_LEN" --output-len "$OUTPUT_LEN" -n "$NUM_PROMPTS" --seed "$SEED"
    --slo-ttft "$SLO_TTFT" --slo-tpot "$SLO_TPOT" --devices 2 "$@")
  $TANDEM bench serve "${common[@]}" --rates "$RATES" --out "$OUT/$label.json" | tee "$OUT/$label.txt"
  if [ "$GOODPUT" = 1 ]; then
    $TANDEM bench serve "${common[@]}" --goodput --rate 0.5 --precision 0.05 --max-rate 4 \
      --out "$OUT/$label.goodput.json" | tee "$OUT/$label.goodput.txt"
  fi
}

run_system() { # label
  local label=$1 start before
  # Each system gets a port of its own: llama-server's closed connections hold its port in TIME_WAIT for a minute
  # (its sockets do not set SO_REUSEADDR), and the next server could not bind it.
  PORT=$((PORT + 1))
  if port_in_use "$PORT"; then echo "port $PORT is in use: stop that server first" >&2; exit 1; fi
  start=$(date -u +%FT%TZ); before=$(cut -d' ' -f1-3 /proc/loadavg)
  case $label in
    llama-server|llama-server-f16kv|llama-server-nopoll|llama-server-fa)
      local kv=$LLAMA_KV extra=(); [ "$label" = llama-server-f16kv ] && kv=f16
      [ "$label" = llama-server-nopoll ] && extra=(--poll 0 --poll-batch 0)
      [ "$label" = llama-server-fa ] && { kv=f16; extra=(-fa); }
      [ -x "$LLAMA_SERVER" ] || { echo "error: $LLAMA_SERVER not built (bench/llama-cpp/build-and-bench.sh with BUILD_ONLY=1)" >&2; exit 1; }
      # -c is the context of all slots together: each slot gets c/np tokens, room for one prompt and its answer.
      start_server "$OUT/$label.server.log" "$LLAMA_SERVER" -m "$MODEL" --host 127.0.0.1 --port "$PORT" -t "$THREADS" -tb "$THREADS" \
        -np "$SLOTS" -c $(( SLOTS * (INPUT_LEN + OUTPUT_LEN + 64) )) -ctk "$kv" -ctv "$kv" "${extra[@]}"
      wait_ready "http://127.0.0.1:$PORT" "$label"
      # llama-server refuses no unknown field but has no tandem_timeline either.
      bench "$label" --no-timeline ;;
    disaggregated|colocated|chunked|chunked-f16kv)
      local mode=${label%-f16kv} kv=f32; [ "$label" = chunked-f16kv ] && kv=f16
      local opts=(--mode "$mode" --cores "0,1")
      [ "$mode" = disaggregated ] && opts=(--mode disaggregated --cores "0;1")
      [ "$mode" = chunked ] && opts+=(--chunk-budget "$CHUNK_BUDGET")
      # The same 256 MiB either way: F16 KV holds twice the tokens in it (the rates here keep fewer than 18 requests of
      # 320 tokens in flight, what F32 KV holds, so the room does not decide the figures).
      start_server "$OUT/$label.server.log" $TANDEM serve --model "$MODEL" --port "$PORT" --kv-type "$kv" --kv-memory 256MiB "${opts[@]}"
      wait_ready "http://127.0.0.1:$PORT" "$label"; head -20 "$OUT/$label.server.log"
      bench "$label" ;;
    *) echo "unknown system $label" >&2; exit 2 ;;
  esac
  stop_servers
  printf '%s\t%s\t%s\t%s\n' "$label" "$start" "$before" "$(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/load.tsv"
}

reports=()
for s in $SYSTEMS; do run_system "$s"; reports+=("$OUT/$s.json"); done
$TANDEM bench plot "${reports[@]}" -o "$OUT"
echo "reports and plots in $OUT"
