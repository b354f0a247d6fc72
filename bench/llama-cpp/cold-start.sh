#!/usr/bin/env bash
# Cold start (issue 9): what a user sees from one `tandem generate` of a 501-token prompt and 128 tokens,
# a new process each time, next to llama.cpp's llama-cli doing the same from the build that
# build-and-bench.sh made. The two run in alternating rounds (A/B pairs); each round prints both programs'
# own prefill and decode speed, the whole command's wall time and its peak resident memory (/usr/bin/time),
# and the end prints the medians. Compare with the warmed figures of `Tandem.Bench engine` to see what the
# first seconds of a process cost.
#
#   bench/llama-cpp/cold-start.sh [MODEL.gguf]     (default artifacts/models/smollm-135m-q8_0.gguf)
#
# Knobs (environment): ROUNDS 5, THREADS 2, N 128, PROMPT_FILE (bench/llama-cpp/prompt-501.txt: 501 tokens
# with the GPT-2 vocabulary), ISA native (which llama.cpp build; avx2 also runs Tandem with
# DOTNET_EnableAVX512=0, the switch .NET 10 honours), BUILD_DIR artifacts/llama.cpp,
# TANDEM (the command that runs tandem; default the built CLI, `dotnet src/Tandem.Cli/bin/Release/net10.0/tandem.dll`),
# OUT (default artifacts/cold-start/<UTC date-time>: every run's output).
set -euo pipefail
case ${1:-} in -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;; esac
cd "$(dirname "$0")/../.."
MODEL=${1:-artifacts/models/smollm-135m-q8_0.gguf}
ROUNDS=${ROUNDS:-5}; THREADS=${THREADS:-2}; N=${N:-128}; ISA=${ISA:-native}
PROMPT_FILE=${PROMPT_FILE:-bench/llama-cpp/prompt-501.txt}
BUILD_DIR=${BUILD_DIR:-artifacts/llama.cpp}
OUT=${OUT:-artifacts/cold-start/$(date -u +%Y%m%dT%H%M%SZ)}
LLAMA_CLI=$BUILD_DIR/$ISA/bin/llama-cli
[ -f "$MODEL" ] || { echo "error: $MODEL: no such file" >&2; exit 1; }
[ -x "$LLAMA_CLI" ] || { echo "error: $LLAMA_CLI: not built (run bench/llama-cpp/build-and-bench.sh with BUILD_ONLY=1)" >&2; exit 1; }
if [ -z "${TANDEM:-}" ]; then
  dotnet build src/Tandem.Cli -c Release -v q -nologo >/dev/null
  TANDEM="dotnet src/Tandem.Cli/bin/Release/net10.0/tandem.dll"
fi
[ "$ISA" = avx2 ] && export DOTNET_EnableAVX512=0
mkdir -p "$OUT"
PROMPT=$(cat "$PROMPT_FILE")

# One run: "prefill_tok_s decode_tok_s wall_s peak_MiB" from the program's own last lines and /usr/bin/time.
run_tandem() {
  # shellcheck disable=SC2086 # TANDEM is a command line
  /usr/bin/time -f 'time %e %M' $TANDEM generate -m "$MODEL" -p "$PROMPT" -n "$N" -t "$THREADS" --temperature 0 --ignore-eos \
    > /dev/null 2> "$1"
  sed -n 's/.*prefill: .*(\([0-9.]*\) tok\/s) | decode: .*(\([0-9.]*\) tok\/s).*/\1 \2/p' "$1" | tr '\n' ' '
  awk '/^time /{printf "%s %.0f\n", $2, $3/1024}' "$1"
}
run_llama() {
  /usr/bin/time -f 'time %e %M' "$LLAMA_CLI" -m "$MODEL" -f "$PROMPT_FILE" -n "$N" -t "$THREADS" --temp 0 --ignore-eos -no-cnv \
    > /dev/null 2> "$1"
  sed -n 's/.*prompt eval time .* \([0-9.]*\) tokens per second.*/\1/p' "$1" | tr '\n' ' '
  sed -n 's/.*[^t] eval time .* \([0-9.]*\) tokens per second.*/\1/p' "$1" | tr '\n' ' '
  awk '/^time /{printf "%s %.0f\n", $2, $3/1024}' "$1"
}

echo "$(date -u +%FT%TZ), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "$MODEL, $(wc -w < "$PROMPT_FILE")-word prompt, $N tokens, $THREADS threads; llama.cpp $("$LLAMA_CLI" --version 2>&1 | grep -m1 version) ($ISA)"
printf '| round | engine | prefill tok/s | decode tok/s | wall s | peak MiB |\n|---:|---|---:|---:|---:|---:|\n'
# A fresh list per run: an OUT used before kept its rows and mixed them into the medians below.
: > "$OUT/runs.txt"
for round in $(seq 1 "$ROUNDS"); do
  if [ $((round % 2)) = 1 ]; then order="tandem llama"; else order="llama tandem"; fi
  for e in $order; do
    read -r pp tg wall peak < <("run_$e" "$OUT/round-$round.$e.log")
    echo "$e $pp $tg $wall $peak" >> "$OUT/runs.txt"
    printf '| %s | %s | %s | %s | %s | %s |\n' "$round" "$e" "$pp" "$tg" "$wall" "$peak"
  done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
for e in tandem llama; do
  for col in 2 3 4 5; do
    awk -v e="$e" -v c="$col" '$1 == e {print $c}' "$OUT/runs.txt" | sort -g | awk '{a[NR]=$1} END {printf "%s ", (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'
  done | awk -v e="$e" '{printf "median %s: prefill %s tok/s, decode %s tok/s, wall %s s, peak %s MiB\n", e, $1, $2, $3, $4}'
done
