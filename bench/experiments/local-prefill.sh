#!/usr/bin/env bash
# Chooses --local-prefill-threshold (conditional disaggregation) by measurement: the multi-turn chat workload
# (`--workload multiturn`: a shared system prompt, each turn resending the history) against `tandem serve`
# disaggregated on 1 prefill core + 1 decode core, prefix cache on, once per threshold (0 = off), and the simulator's
# prediction for the same workload and thresholds (`tandem simulate` drives the server's own schedulers on a virtual
# clock with step times from a profile). Per threshold: TTFT p50/p90, TPOT p50/p90, SLO attainment and goodput at the
# fixed rate(s), goodput by search (GOODPUT=1), later turns prefilled on the decode instance, load average before and
# after. Writes reports, server logs, summary.md and summary.json (with the one line of docs/experiments/
# prefix-caching.md it regenerates, and each side's recommended threshold) to $OUT.
#
#   bench/experiments/local-prefill.sh [OUT_DIR]
#
# Knobs (environment): THRESHOLDS, MODEL, PROFILE (the simulator's latency profile: measured for MODEL on one core),
# RATES, NUM_PROMPTS, TURNS, SYSTEM_LEN, INPUT_LEN, OUTPUT_LEN, THINK, SLO_TTFT, SLO_TPOT, SEED, PORT, TOKEN_ID_MAX,
# KV_MEMORY, GOODPUT (1: bisect goodput per threshold, measured and simulated; the measured search takes several runs
# per threshold), MAX_RATE (the search's ceiling), SIMULATE_ONLY (1: skip the servers).
#
# Short check (a few minutes): THRESHOLDS="0 64" NUM_PROMPTS=16 GOODPUT=0 bench/experiments/local-prefill.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
. bench/experiments/lib.sh
OUT=${1:-artifacts/s6-cache/local-prefill}
THRESHOLDS=${THRESHOLDS:-0 32 64 128 256}
MODEL=${MODEL:-artifacts/models/smollm-135m-q8_0.gguf}
PROFILE=${PROFILE:-docs/experiments/planner/profile.json}
RATES=${RATES:-0.5}
NUM_PROMPTS=${NUM_PROMPTS:-48}
TURNS=${TURNS:-4}
SYSTEM_LEN=${SYSTEM_LEN:-128}
INPUT_LEN=${INPUT_LEN:-32}
OUTPUT_LEN=${OUTPUT_LEN:-16}
THINK=${THINK:-0.5}
SLO_TTFT=${SLO_TTFT:-2}
SLO_TPOT=${SLO_TPOT:-0.2}
SEED=${SEED:-1}
PORT=${PORT:-8141}
TOKEN_ID_MAX=${TOKEN_ID_MAX:-40000}
KV_MEMORY=${KV_MEMORY:-256MiB}
GOODPUT=${GOODPUT:-1}
MAX_RATE=${MAX_RATE:-4}
SIMULATE_ONLY=${SIMULATE_ONLY:-0}
mkdir -p "$OUT"
STARTED=$(date +%s)
# What to put at the top of a report: this exact invocation.
COMMAND="THRESHOLDS=\"$THRESHOLDS\" RATES=$RATES NUM_PROMPTS=$NUM_PROMPTS TURNS=$TURNS SYSTEM_LEN=$SYSTEM_LEN INPUT_LEN=$INPUT_LEN OUTPUT_LEN=$OUTPUT_LEN THINK=$THINK SLO_TTFT=$SLO_TTFT SLO_TPOT=$SLO_TPOT GOODPUT=$GOODPUT bench/experiments/local-prefill.sh $OUT"

tandem_build
# A private copy: rebuilding the worktree while the script runs must not swap the binaries of later thresholds.
rm -rf "$OUT/.tandem" && cp -r src/Tandem.Cli/bin/Release/net10.0 "$OUT/.tandem"
TANDEM="dotnet $OUT/.tandem/tandem.dll"
[ "$SIMULATE_ONLY" = 1 ] || ensure_model "$MODEL" smollm-135m q8_0

# The same draw for both (lengths, arrivals, which prompts share what); the ids' range matters only to the real model.
WORKLOAD=(--workload multiturn --token-ids --turns "$TURNS" --system-len "$SYSTEM_LEN" --input-len "$INPUT_LEN" --output-len "$OUTPUT_LEN"
  --think-time "$THINK" -n "$NUM_PROMPTS" --seed "$SEED" --slo-ttft "$SLO_TTFT" --slo-tpot "$SLO_TPOT")
FIRST_RATE=${RATES%%,*}
SEARCH=(--goodput --rate "$FIRST_RATE" --precision 0.1 --max-rate "$MAX_RATE")

for t in $THRESHOLDS; do
  echo "== threshold $t"
  # The simulator's prediction: same workload, same placement, the server's schedulers and routing rule.
  SIM=($TANDEM simulate --profile "$PROFILE" --mode disaggregated --kv-memory "$KV_MEMORY" --local-prefill-threshold "$t" --label "sim-$t" "${WORKLOAD[@]}")
  "${SIM[@]}" --rates "$RATES" --out "$OUT/sim-$t.json" > "$OUT/sim-$t.txt" 2>&1
  [ "$GOODPUT" = 1 ] && "${SIM[@]}" "${SEARCH[@]}" --out "$OUT/sim-$t.goodput.json" > "$OUT/sim-$t.goodput.txt" 2>&1
  [ "$SIMULATE_ONLY" = 1 ] && continue

  if port_in_use "$PORT"; then echo "port $PORT is already serving: stop that server first" >&2; exit 1; fi
  start_server "$OUT/measured-$t.server.log" $TANDEM serve --model "$MODEL" --port "$PORT" --kv-type f32 --mode disaggregated \
    --cores "0;1" --kv-memory "$KV_MEMORY" --local-prefill-threshold "$t"
  wait_ready "http://127.0.0.1:$PORT" "threshold $t" /health/ready
  echo "before $(loadavg)" > "$OUT/measured-$t.load"
  BENCH=($TANDEM bench serve --base-url "http://127.0.0.1:$PORT" --label "measured-$t" "${WORKLOAD[@]}"
    --token-id-min 3 --token-id-max "$TOKEN_ID_MAX" --devices 2)
  "${BENCH[@]}" --rates "$RATES" --out "$OUT/measured-$t.json" > "$OUT/measured-$t.txt"
  [ "$GOODPUT" = 1 ] && "${BENCH[@]}" "${SEARCH[@]}" --out "$OUT/measured-$t.goodput.json" > "$OUT/measured-$t.goodput.txt"
  echo "after $(loadavg)" >> "$OUT/measured-$t.load"
  stop_servers
  cat "$OUT/measured-$t.load"
done

python3 bench/experiments/local-prefill-summary.py "$OUT" --command "$COMMAND" --seconds "$(( $(date +%s) - STARTED ))" > "$OUT/summary.md"
cat "$OUT/summary.md"
