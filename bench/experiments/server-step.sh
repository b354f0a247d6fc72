#!/usr/bin/env bash
# Issue 9, "speed inside the server" (docs/performance.md, "Server step against bench step"): runs `tandem serve` with
# --step-log in each mode, drives it with `tandem bench serve` (vs-llama-server.md's workload: 256-token prompts as
# token ids, 64 forced output tokens, Poisson arrivals), stops it, then replays every recorded batch composition alone
# with `Tandem.Bench steps --replay` on the same cores and writes server ÷ bench per step. Everything lands in OUT:
# per run the step log (*.steps.jsonl), the replay (*.replay.json / .txt), the client's report (*.bench.json / .txt),
# the server's log, load.tsv, machine.txt, and summary.md / summary.json over all runs.
#
#   bench/experiments/server-step.sh [OUT_DIR]
#
# Knobs (environment): MODEL (default artifacts/models/smollm-135m-q8_0.gguf, synthesized when missing),
# MODES ("disaggregated colocated": disaggregated on cores "0;1", colocated and chunked on "0,1"), RATE (0.5 req/s),
# NUM_PROMPTS (40), INPUT_LEN (256), OUTPUT_LEN (64), SEED (1), KV_TYPE (f32, as vs-llama-server.sh), REPS (5 timed
# replays per composition in each pass), PASSES (3 passes over all compositions per replay), REPLAYS (1: replays of each
# step log, each in a fresh process: a process's speed for the same batch moved by up to ±15% from one process to the
# next in the runs of 2026-12-03, so one replay process is one draw; the summary gives each replay's median and theirs),
# ROUNDS (1: each variant × mode once; more alternate the variants, A/B), PORT (8150),
# VARIANTS (default "base"): space-separated NAME or NAME:VAR=VALUE[,VAR=VALUE...]; each runs the server with those
# environment variables, e.g. VARIANTS="base gcserver:DOTNET_gcServer=1 gen0:DOTNET_GCgen0size=0x4000000"; TANDEM_PRIO=2
# sets `tandem serve --prio 2` (every option reads TANDEM_<OPTION>),
# SERVE_OPTS (more `tandem serve` options for every run, e.g. "--prio 2"), CLIENT_NICE (0: the client's nice value, e.g.
# 19 to let it run only where the server leaves room).
#
# With 2 cores the load generator cannot be kept off the measured cores: the client, Kestrel and the instances share
# them. The replay runs after the server has stopped, so it has the cores to itself (apart from whatever else runs on
# the machine): the load average before and after each run goes into load.tsv and the summary. Ratios are taken within
# one run, so the machine's load weighs on both sides alike; absolute milliseconds under load are not evidence of speed.
set -euo pipefail
case ${1:-} in -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;; esac
cd "$(dirname "$0")/../.."
. bench/experiments/lib.sh
OUT=${1:-artifacts/server-step/$(date -u +%Y%m%dT%H%M%SZ)}
MODEL=${MODEL:-artifacts/models/smollm-135m-q8_0.gguf}
MODES=${MODES:-disaggregated colocated}
RATE=${RATE:-0.5}
NUM_PROMPTS=${NUM_PROMPTS:-40}
INPUT_LEN=${INPUT_LEN:-256}
OUTPUT_LEN=${OUTPUT_LEN:-64}
SEED=${SEED:-1}
KV_TYPE=${KV_TYPE:-f32}
REPS=${REPS:-5}
PASSES=${PASSES:-3}
REPLAYS=${REPLAYS:-1}
ROUNDS=${ROUNDS:-1}
PORT=${PORT:-8150}
VARIANTS=${VARIANTS:-base}
SERVE_OPTS=${SERVE_OPTS:-}
CLIENT_NICE=${CLIENT_NICE:-0}
mkdir -p "$OUT"

tandem_build
dotnet build bench/Tandem.Bench -c Release -v q -nologo >/dev/null
BENCH="dotnet bench/Tandem.Bench/bin/Release/net10.0/Tandem.Bench.dll"
ensure_model "$MODEL" smollm-135m q8_0
{ echo "date $(date -u +%FT%TZ)"; grep -m1 'model name' /proc/cpuinfo; grep -m1 -o 'avx512[a-z_]*\|avx2' /proc/cpuinfo | sort -u | tr '\n' ' '; echo;
  echo "cores $(nproc)"; uname -srm; dotnet --version; git rev-parse HEAD; echo "model $MODEL"; } > "$OUT/machine.txt" || true
printf 'run\tstart_utc\tloadavg_before\tloadavg_after_serve\tloadavg_after_replay\n' > "$OUT/load.tsv"

run() { # round, variant spec, mode
  local round=$1 spec=$2 mode=$3 name=${2%%:*} vars=() cores=0,1 label before after_serve
  [[ $spec == *:* ]] && IFS=, read -r -a vars <<< "${spec#*:}"
  [ "$mode" = disaggregated ] && cores="0;1"
  label=r$round-$name-$mode
  PORT=$((PORT + 1))
  if port_in_use "$PORT"; then echo "port $PORT is in use: stop that server first" >&2; exit 1; fi
  before=$(loadavg)
  # shellcheck disable=SC2086  # SERVE_OPTS is a list of options
  start_server "$OUT/$label.server.log" env "${vars[@]}" $TANDEM serve --model "$MODEL" --port "$PORT" --kv-type "$KV_TYPE" \
    --kv-memory 256MiB --mode "$mode" --cores "$cores" --step-log "$OUT/$label.steps.jsonl" $SERVE_OPTS
  wait_ready "http://127.0.0.1:$PORT" "$label"
  nice -n "$CLIENT_NICE" $TANDEM bench serve --base-url "http://127.0.0.1:$PORT" --label "$label" --workload fixed --token-ids --token-id-min 3 \
    --token-id-max 40000 --input-len "$INPUT_LEN" --output-len "$OUTPUT_LEN" -n "$NUM_PROMPTS" --seed "$SEED" \
    --rates "$RATE" --devices 2 --out "$OUT/$label.bench.json" > "$OUT/$label.bench.txt"
  stop_servers
  after_serve=$(loadavg)
  local k suffix
  for k in $(seq 1 "$REPLAYS"); do
    suffix=""; [ "$k" -gt 1 ] && suffix="-$k"
    $BENCH steps --replay "$OUT/$label.steps.jsonl" --model "$MODEL" --reps "$REPS" --passes "$PASSES" --json "$OUT/$label.replay$suffix.json" \
      | tee "$OUT/$label.replay$suffix.txt"
  done
  printf '%s\t%s\t%s\t%s\t%s\n' "$label" "$(date -u +%FT%TZ)" "$before" "$after_serve" "$(loadavg)" >> "$OUT/load.tsv"
}

for round in $(seq 1 "$ROUNDS"); do
  # Alternate the variants' order from round to round, so that neither always runs first.
  specs=($VARIANTS); [ $((round % 2)) = 0 ] && specs=($(printf '%s\n' "${specs[@]}" | tac))
  for spec in "${specs[@]}"; do for mode in $MODES; do run "$round" "$spec" "$mode"; done; done
done
python3 bench/experiments/server-step-summary.py "$OUT" > "$OUT/summary.md"
cat "$OUT/summary.md"
echo "everything in $OUT"
