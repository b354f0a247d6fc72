# Shared by bench/experiments/*.sh (source it after `cd` to the repository root): build the CLI, synthesize a model,
# start `tandem serve` processes in the background, wait for them, stop them all on exit, record the load average.
#
#   . bench/experiments/lib.sh
#   tandem_build                                    # sets $TANDEM
#   ensure_model artifacts/models/x.gguf smollm-135m q8_0
#   start_server LOG $TANDEM serve options...       # any command, in the background; pid appended to SERVER_PIDS
#   wait_ready URL LABEL [PATH]                     # until URL/PATH (default /health) answers 2xx
#   stop_servers                                    # SIGTERM every started server, then wait (also on EXIT)

SERVER_PIDS=()

tandem_build() {
  dotnet build src/Tandem.Cli -c Release -v q -nologo >/dev/null
  TANDEM="dotnet src/Tandem.Cli/bin/Release/net10.0/tandem.dll"
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
