# Shared by bench/experiments/*.sh (source it after `cd` to the repository root): build the CLI, synthesize a model,
# start `tandem serve` processes in the background, wait for them, stop them all on exit, record the load average.
#
#   . bench/experiments/lib.sh
#   tandem_build                                    # sets $TANDEM
#   ensure_model artifacts/models/x.gguf smollm-135m q8_0
#   start_server LOG $TANDEM serve options...       # any command, in the background; pid appended to SERVER_PIDS
#   wait_ready URL LABEL [PATH]                     # until URL/PATH (default /health) answers 2xx
#   stop_servers                                    # SIGTERM every started server, then wait (also on EXIT)
#   disaggregation_workload                         # the knobs of docs/experiments/disaggregation-on-cpu.md's workload
#   bench_rates_and_goodput URL LABEL OUT_DIR       # its rate sweep and goodput search against URL

SERVER_PIDS=()

tandem_build() {
  dotnet build src/Tandem.Cli -c Release -v q -nologo >/dev/null
  TANDEM="dotnet src/Tandem.Cli/bin/Release/net10.0/tandem.dll"
}

# A/B builds of the bench: Tandem.Bench from this tree and from git ref $1 (extracted under $OUT/base-src), each copied
# out of its bin folder to $OUT/now and $OUT/base so that later builds of the tree do not change what is measured.
# Sets NOW and PRE to the two Tandem.Bench.dll paths.
bench_base_and_now() { # base ref
  local src name
  mkdir -p "$OUT/base-src" && git archive "$1" | tar -x -C "$OUT/base-src"
  for name in now base; do
    src=.; [ $name = base ] && src=$OUT/base-src
    dotnet build "$src/bench/Tandem.Bench" -c Release -v q -nologo >/dev/null
    rm -rf "${OUT:?}/$name" && cp -r "$src/bench/Tandem.Bench/bin/Release/net10.0" "$OUT/$name"
  done
  NOW=$OUT/now/Tandem.Bench.dll PRE=$OUT/base/Tandem.Bench.dll
}

ensure_model() { # path, preset, type
  [ -f "$1" ] && return 0
  mkdir -p "$(dirname "$1")"
  $TANDEM model synth --preset "$2" --type "$3" --vocab-from ../shared/models/vocab/ggml-vocab-gpt-2.gguf -o "$1"
}

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

# median: the median of the numbers on standard input, one a line.
median() { sort -g | awk '{a[NR]=$1} END {if (NR) print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# generate_timed LOG COMMAND...: runs a `tandem generate` command line with its standard error in LOG and prints
# "prefill_tok_s decode_tok_s wall_s cpu_s peak_MiB": the program's own last line and /usr/bin/time's accounting.
generate_timed() {
  local log=$1; shift
  /usr/bin/time -f 'time %e %U %S %M' "$@" > /dev/null 2> "$log"
  sed -n 's/.*prefill: .*(\([0-9.]*\) tok\/s) | decode: .*(\([0-9.]*\) tok\/s).*/\1 \2/p' "$log" | tr '\n' ' '
  awk '/^time /{printf "%s %.2f %.0f\n", $2, $3 + $4, $5/1024}' "$log"
}

port_in_use() { (exec 3<>"/dev/tcp/${2:-127.0.0.1}/$1") 2>/dev/null; }

# start_server LOG COMMAND...: runs COMMAND (e.g. `$TANDEM serve ...`, or behind `ip netns exec NS`) in the
# background with its output in LOG.
start_server() {
  local log=$1; shift
  "$@" > "$log" 2>&1 &
  SERVER_PIDS+=($!)
  LAST_LOG=$log
}

wait_ready() { # url, label, [path]
  local pid=${SERVER_PIDS[-1]}
  for _ in $(seq 1 480); do
    curl -sf "$1${3:-/health}" >/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || { echo "$2 failed to start, see $LAST_LOG" >&2; exit 1; }
    sleep 0.5
  done
  echo "$2 not ready after 240 s, see $LAST_LOG" >&2; exit 1
}

stop_servers() {
  local p
  for p in "${SERVER_PIDS[@]:-}"; do [ -n "$p" ] && kill -TERM "$p" 2>/dev/null || true; done
  for p in "${SERVER_PIDS[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null || true; done
  SERVER_PIDS=()
}
trap stop_servers EXIT

# The workload of docs/experiments/disaggregation-on-cpu.md, each part overridable from the environment: NUM_PROMPTS
# requests of INPUT_LEN prompt tokens (token ids up to TOKEN_ID_MAX) and OUTPUT_LEN output tokens, Poisson arrivals
# (SEED) at RATES, SLOs SLO_TTFT and SLO_TPOT.
disaggregation_workload() {
  RATES=${RATES:-0.3,0.6,0.9,1.2}
  NUM_PROMPTS=${NUM_PROMPTS:-30}
  INPUT_LEN=${INPUT_LEN:-128}
  OUTPUT_LEN=${OUTPUT_LEN:-32}
  SLO_TTFT=${SLO_TTFT:-2.5}
  SLO_TPOT=${SLO_TPOT:-0.04}
  SEED=${SEED:-1}
  PORT=${PORT:-8123}
  TOKEN_ID_MAX=${TOKEN_ID_MAX:-40000}
}

# bench_rates_and_goodput URL LABEL OUT_DIR: that workload's rate sweep against URL (OUT_DIR/LABEL.json), then, unless
# SKIP_GOODPUT_SEARCH is set, a goodput bisection (90% attainment, precision 0.1 req/s; OUT_DIR/LABEL.goodput.json).
bench_rates_and_goodput() {
  local url=$1 label=$2 out=$3
  local common=(--base-url "$url" --label "$label" --workload fixed --token-ids --token-id-min 3 --token-id-max "$TOKEN_ID_MAX"
    --input-len "$INPUT_LEN" --output-len "$OUTPUT_LEN" -n "$NUM_PROMPTS" --seed "$SEED" --slo-ttft "$SLO_TTFT" --slo-tpot "$SLO_TPOT" --devices 2)
  $TANDEM bench serve "${common[@]}" --rates "$RATES" --out "$out/$label.json" | tee "$out/$label.txt"
  [ -n "${SKIP_GOODPUT_SEARCH:-}" ] && return 0
  $TANDEM bench serve "${common[@]}" --goodput --rate 0.6 --precision 0.1 --max-rate 4 --out "$out/$label.goodput.json" | tee "$out/$label.goodput.txt"
}
