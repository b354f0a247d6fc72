#!/usr/bin/env bash
# Validates the simulator against this machine (docs/experiments/planner.md): measures disaggregated, colocated and
# chunked over the rate sweep of disaggregation-on-cpu.md (100 requests per rate), profiles the same model with
# `tandem profile`, simulates the same three placements and workload from the profile, and plots both together.
#
#   bench/experiments/planner-validation.sh [OUT_DIR]
#
# Knobs (environment): MODEL, RATES, NUM_PROMPTS, SEED, PORT, LINK (KV copy rate in process), SKIP_MEASURE=1 (no
# measurement: only profile and simulate), SKIP_PROFILE=1 (reuse OUT_DIR/profile.json), PROFILE_FLAGS (e.g. --cpu-time
# on a machine busy with other work).
set -euo pipefail
cd "$(dirname "$0")/../.."
. bench/experiments/lib.sh
OUT=${1:-docs/experiments/planner}
MODEL=${MODEL:-artifacts/models/smollm-135m-q8_0.gguf}
RATES=${RATES:-0.3,0.6,0.9,1.2}
NUM_PROMPTS=${NUM_PROMPTS:-100}
SEED=${SEED:-1}
PORT=${PORT:-8157}
LINK=${LINK:-1.4GB}
WORKLOAD=(--workload fixed --token-ids --input-len 128 --output-len 32 -n "$NUM_PROMPTS" --rates "$RATES" --seed "$SEED" --slo-ttft 2.5 --slo-tpot 0.04)
mkdir -p "$OUT/measured" "$OUT/simulated-profile"

tandem_build
ensure_model "$MODEL" smollm-135m q8_0

measure() { # label, serve options...
  local label=$1; shift
  if port_in_use "$PORT"; then echo "port $PORT is already serving: stop that server first" >&2; exit 1; fi
  start_server "$OUT/measured/$label.server.log" $TANDEM serve --model "$MODEL" --port "$PORT" --kv-type f32 --kv-memory 256MiB "$@"
  wait_ready "http://127.0.0.1:$PORT" "$label"
  echo "$label: load average $(cut -d' ' -f1-3 /proc/loadavg) before measuring" | tee -a "$OUT/load.txt"
  $TANDEM bench serve --base-url "http://127.0.0.1:$PORT" --label "$label (measured)" --token-id-min 3 --token-id-max 40000 "${WORKLOAD[@]}" \
    --devices 2 --out "$OUT/measured/$label.json" > "$OUT/measured/$label.txt"
  echo "$label: load average $(cut -d' ' -f1-3 /proc/loadavg) after measuring" | tee -a "$OUT/load.txt"
  stop_servers
}

if [ -z "${SKIP_MEASURE:-}" ]; then
  measure disaggregated --mode disaggregated --cores "0;1"
  measure colocated --mode colocated --cores "0,1"
  measure chunked --mode chunked --cores "0,1" --chunk-budget 64
fi

if [ -z "${SKIP_PROFILE:-}" ]; then
  echo "profile: load average $(cut -d' ' -f1-3 /proc/loadavg) before" | tee -a "$OUT/load.txt"
  $TANDEM profile --model "$MODEL" --cores 1,2 --kv-type f32 ${PROFILE_FLAGS:-} --out "$OUT/profile.json" 2> "$OUT/profile.log" | tee "$OUT/profile.txt"
  echo "profile: load average $(cut -d' ' -f1-3 /proc/loadavg) after" | tee -a "$OUT/load.txt"
fi

simulate() { # label, simulate options...
  local label=$1; shift
  $TANDEM simulate --profile "$OUT/profile.json" --label "$label (simulated)" --kv-memory 256MiB --link-bandwidth "$LINK" "${WORKLOAD[@]}" "$@" \
    --out "$OUT/simulated-profile/$label.json" > "$OUT/simulated-profile/$label.txt" 2>&1
}
simulate disaggregated --mode disaggregated --prefill-tp 1 --decode-tp 1
simulate colocated --mode colocated --tp 2
simulate chunked --mode chunked --tp 2 --chunk-budget 64

if [ -z "${SKIP_MEASURE:-}" ]; then
  $TANDEM bench plot "$OUT"/measured/{disaggregated,colocated,chunked}.json "$OUT"/simulated-profile/{disaggregated,colocated,chunked}.json -o "$OUT"
  bench/experiments/planner-compare.py "$OUT/simulated-profile" "$OUT/measured" | tee "$OUT/compare.md"
else
  bench/experiments/planner-compare.py "$OUT/simulated-profile" | tee "$OUT/compare.md"
fi
echo "reports and plots in $OUT"
