#!/usr/bin/env bash
# Overload with and without admission control (issue 12, docs/experiments/overload.md): the 135M-shaped model is
# offered LOAD × its goodput rate for DURATION seconds, once on a server without admission control and once with
# --max-waiting-requests and --slo-ttft. A sampler records the server's resident set every second; the analysis
# (overload.py) reports, per half: peak RSS in the first and the second half of the run, the share of requests
# refused (429), the SLO attainment of the requests that were admitted, and whether every request got an answer.
#
#   bench/experiments/overload.sh [OUT_DIR]
#
# Knobs (environment): MODEL (default artifacts/models/smollm-135m-q8_0.gguf, synthesized when missing), MODE
# (disaggregated), DURATION (600 s per half), LOAD (3), GOODPUT_RATE (req/s; measured first with a goodput search
# when unset), INPUT_LEN (256), OUTPUT_LEN (64), SLO_TTFT (2 s), SLO_TPOT (0.1 s), MAX_WAITING (8), SEED, PORT (8125),
# CLIENT_TIMEOUT (120 s: a request with no answer by then counts as unanswered), HALVES ("none admission").
# A short check of the script: DURATION=60 GOODPUT_RATE=0.75 bench/experiments/overload.sh
#
# With 2 cores the load generator shares the cores with the server, the same way in both halves; the load average
# before and after each half goes into $OUT/load.tsv.
set -euo pipefail
case ${1:-} in -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;; esac
cd "$(dirname "$0")/../.."
OUT=${1:-artifacts/api-prod/overload/$(date -u +%Y%m%dT%H%M%SZ)}
MODEL=${MODEL:-artifacts/models/smollm-135m-q8_0.gguf}
MODE=${MODE:-disaggregated}
DURATION=${DURATION:-600}
LOAD=${LOAD:-3}
INPUT_LEN=${INPUT_LEN:-256}
OUTPUT_LEN=${OUTPUT_LEN:-64}
SLO_TTFT=${SLO_TTFT:-2}
SLO_TPOT=${SLO_TPOT:-0.1}
MAX_WAITING=${MAX_WAITING:-8}
SEED=${SEED:-1}
PORT=${PORT:-8125}
CLIENT_TIMEOUT=${CLIENT_TIMEOUT:-120}
HALVES=${HALVES:-none admission}
TOKEN_ID_MAX=${TOKEN_ID_MAX:-40000}
mkdir -p "$OUT" "$(dirname "$MODEL")"

dotnet build src/Tandem.Cli -c Release -v q -nologo >/dev/null
TANDEM="dotnet src/Tandem.Cli/bin/Release/net10.0/tandem.dll"
if [ ! -f "$MODEL" ]; then
  $TANDEM model synth --preset smollm-135m --type q8_0 --vocab-from ../shared/models/vocab/ggml-vocab-gpt-2.gguf -o "$MODEL"
fi
{ echo "date $(date -u +%FT%TZ)"; grep -m1 'model name' /proc/cpuinfo; echo "cores $(nproc)"; uname -srm; dotnet --version; git rev-parse HEAD; } > "$OUT/machine.txt"
printf 'half\tstart_utc\tloadavg_before\tloadavg_after\n' > "$OUT/load.tsv"

SERVER_PID= SAMPLER_PID=
stop_all() {
  if [ -n "$SAMPLER_PID" ]; then kill "$SAMPLER_PID" 2>/dev/null || true; wait "$SAMPLER_PID" 2>/dev/null || true; SAMPLER_PID=; fi
  if [ -n "$SERVER_PID" ]; then kill -TERM "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=; fi
}
trap stop_all EXIT

start_server() { # label, extra serve options...
  local label=$1; shift
  $TANDEM serve --model "$MODEL" --mode "$MODE" --port "$PORT" --kv-type f32 --served-model-name smollm "$@" \
    > "$OUT/$label.server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 240); do
    curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || { echo "$label: server failed to start, see $OUT/$label.server.log" >&2; exit 1; }
    sleep 0.5
  done
  echo "$label: server not ready after 120 s" >&2; exit 1
}

bench_common=(--base-url "http://127.0.0.1:$PORT" --workload fixed --token-ids --token-id-min 3 --token-id-max "$TOKEN_ID_MAX"
  --input-len "$INPUT_LEN" --output-len "$OUTPUT_LEN" --seed "$SEED" --slo-ttft "$SLO_TTFT" --slo-tpot "$SLO_TPOT" --devices "$(nproc)")

if [ -z "${GOODPUT_RATE:-}" ]; then
  start_server goodput
  $TANDEM bench serve "${bench_common[@]}" --label goodput -n 40 --goodput --rate 0.5 --precision 0.05 --max-rate 8 \
    --out "$OUT/goodput.json" | tee "$OUT/goodput.txt"
  stop_all
  GOODPUT_RATE=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['goodput']['goodput'])" "$OUT/goodput.json")
fi
RATE=$(python3 -c "print(round($LOAD * $GOODPUT_RATE, 4))")
NUM=$(python3 -c "print(max(1, round($RATE * $DURATION)))")
echo "goodput $GOODPUT_RATE req/s; offering $RATE req/s ($LOAD x) for $DURATION s = $NUM requests per half" | tee "$OUT/plan.txt"

for half in $HALVES; do
  case $half in
    none) extra=() ;;
    admission) extra=(--max-waiting-requests "$MAX_WAITING" --slo-ttft "$SLO_TTFT") ;;
    *) echo "unknown half '$half' (none, admission)" >&2; exit 2 ;;
  esac
  start_server "$half" "${extra[@]}"
  # Resident set of the server process, every second, while the load runs.
  ( while kill -0 "$SERVER_PID" 2>/dev/null; do
      printf '%s\t%s\n' "$(date +%s.%N)" "$(awk '/^VmRSS:/ {print $2}' "/proc/$SERVER_PID/status" 2>/dev/null)"
      sleep 1
    done ) > "$OUT/$half.rss.tsv" &
  SAMPLER_PID=$!
  before=$(cut -d' ' -f1-3 /proc/loadavg); start=$(date -u +%FT%TZ)
  date +%s.%N > "$OUT/$half.start"
  $TANDEM bench serve "${bench_common[@]}" --label "$half" -n "$NUM" --rate "$RATE" --timeout "$CLIENT_TIMEOUT" --warmup 2 \
    --out "$OUT/$half.json" | tee "$OUT/$half.txt"
  date +%s.%N > "$OUT/$half.end"
  curl -sf "http://127.0.0.1:$PORT/metrics" > "$OUT/$half.metrics.txt" || true
  printf '%s\t%s\t%s\t%s\n' "$half" "$start" "$before" "$(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/load.tsv"
  stop_all
done
python3 bench/experiments/overload.py "$OUT" | tee "$OUT/summary.md"
