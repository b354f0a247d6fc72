#!/usr/bin/env bash
# The native anchor (issue 9): builds llama.cpp from a source checkout the way its users build it
# (-march=native), and once more for AVX2 only, then times llama-bench and Tandem's own bench on the same
# GGUF files, same thread count, in alternating rounds (A/B pairs), and prints one side-by-side table:
# Tandem, the LLamaSharp bundle and native llama.cpp with flash attention off and on, with the date, the
# CPU model, its ISA, the load average and the llama.cpp commit. Raw JSON reports go to $OUT.
#
#   bench/llama-cpp/build-and-bench.sh LLAMA_CPP_SRC [MODEL.gguf ...]
#
# LLAMA_CPP_SRC is a llama.cpp source tree outside this repository (a git checkout, so that the commit is
# known; for a tree without .git set LLAMA_CPP_COMMIT). It is never copied here. From a bare mirror:
#   git clone --no-checkout MIRROR /tmp/llama.cpp && cd /tmp/llama.cpp &&
#   git sparse-checkout set --no-cone '/*' '!/models/' && git checkout HEAD   (models/ holds large files)
# The default models are the SmolLM-135M-shaped files of docs/performance.md, synthesized when missing.
#
# Knobs (environment):
#   BUILD_DIR  where llama.cpp is built, one folder per ISA (default artifacts/llama.cpp)
#   OUT        raw reports and the table (default artifacts/anchor/<UTC date-time>)
#   ISAS       "native avx2" on a machine with AVX-512, else "native"; avx2 = llama.cpp built with
#              GGML_NATIVE=OFF AVX2+FMA+F16C (AVX-512 off) against Tandem with DOTNET_EnableAVX512=0
#   THREADS 2, PP 512, TG 128, REPS 3 (repetitions inside each bench run; llama-bench -r), ROUNDS 5
#              (A/B pairs: each round runs both, alternating which goes first), KV f16 (KV cache type of
#              both engines; llama.cpp's default), JOBS 2 (parallel compile jobs)
#   TARGETS    llama.cpp targets to build (default "llama-bench llama-cli llama-server")
#   BUNDLE     1 also times the LLamaSharp bundle inside Tandem's bench run; 0 skips it
#   QUIET_WAIT seconds to wait before each run for the machine to fall quiet (nothing else runnable for 5 s
#              in a row); 0 (default) runs at once. On a shared machine the load average goes beside every
#              figure either way, and llama.cpp's spinning thread pool slows down far more than Tandem's when
#              another process takes a core, so figures taken under load flatter Tandem.
#   BUILD_ONLY 1 stops after building; SKIP_BUILD 1 reuses an existing build
set -euo pipefail
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
[ $# -ge 1 ] || usage
case $1 in -h|--help) usage ;; esac
SRC=$(cd "$1" && pwd) || { echo "error: $1: no such directory" >&2; exit 1; }
shift
[ -f "$SRC/CMakeLists.txt" ] && [ -d "$SRC/ggml" ] || { echo "error: $SRC is not a llama.cpp source tree (no CMakeLists.txt and ggml/)" >&2; exit 1; }
cd "$(dirname "$0")/../.."
REPO=$(pwd)
case "$SRC/" in "$REPO"/*) echo "error: the llama.cpp source must live outside this repository, not in $SRC" >&2; exit 1 ;; esac

COMMIT=${LLAMA_CPP_COMMIT:-$(git -C "$SRC" rev-parse HEAD 2>/dev/null || true)}
[ -n "$COMMIT" ] || { echo "error: $SRC is not a git checkout: set LLAMA_CPP_COMMIT to the commit it holds" >&2; exit 1; }
BUILD_DIR=$(mkdir -p "${BUILD_DIR:-artifacts/llama.cpp}" && cd "${BUILD_DIR:-artifacts/llama.cpp}" && pwd)
THREADS=${THREADS:-2}; PP=${PP:-512}; TG=${TG:-128}; REPS=${REPS:-3}; ROUNDS=${ROUNDS:-5}; KV=${KV:-f16}; JOBS=${JOBS:-2}
TARGETS=${TARGETS:-llama-bench llama-cli llama-server}
BUNDLE=${BUNDLE:-1}
if grep -qw avx512f /proc/cpuinfo; then ISAS=${ISAS:-native avx2}; else ISAS=${ISAS:-native}; fi
case $KV in f16|f32) ;; *) echo "error: KV must be f16 or f32, got $KV" >&2; exit 2 ;; esac
[ "$REPS" -ge 1 ] && [ "$ROUNDS" -ge 1 ] || { echo "error: REPS and ROUNDS must be at least 1" >&2; exit 2; }

# Only the targets asked for, static so that each build's binaries use their own ggml; with no tests and no
# curl. The AVX2 build names every x86 feature flag so that nothing above AVX2 slips in; flags this
# llama.cpp does not know (GGML_BMI2 in older ones) are ignored with a warning.
build() { # isa
  local isa=$1 dir=$BUILD_DIR/$1 flags=()
  case $isa in
    native) flags=(-DGGML_NATIVE=ON) ;;
    avx2) flags=(-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
                 -DGGML_AVX_VNNI=OFF -DGGML_AVX512=OFF -DGGML_AVX512_VBMI=OFF -DGGML_AVX512_VNNI=OFF
                 -DGGML_AVX512_BF16=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF) ;;
    *) echo "error: unknown ISA $isa (native or avx2)" >&2; exit 2 ;;
  esac
  local gen=(); command -v ninja >/dev/null && gen=(-G Ninja)
  echo "== building llama.cpp $COMMIT ($isa) in $dir"
  cmake -S "$SRC" -B "$dir" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF -DGGML_CCACHE=OFF \
    -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF "${flags[@]}" > "$dir.configure.log" 2>&1 \
    || { tail -30 "$dir.configure.log" >&2; exit 1; }
  # shellcheck disable=SC2086 # TARGETS is a list
  cmake --build "$dir" --config Release -j "$JOBS" --target $TARGETS > "$dir.build.log" 2>&1 \
    || { tail -30 "$dir.build.log" >&2; exit 1; }
}
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  for isa in $ISAS; do build "$isa"; done
fi
[ "${BUILD_ONLY:-0}" = 1 ] && exit 0

MODELS=("$@")
dotnet build bench/Tandem.Bench -c Release -v q -nologo >/dev/null
dotnet build src/Tandem.Cli -c Release -v q -nologo >/dev/null
if [ ${#MODELS[@]} -eq 0 ]; then
  for t in f16 q8_0 q4_k; do
    m=artifacts/models/smollm-135m-$t.gguf
    [ -f "$m" ] || dotnet src/Tandem.Cli/bin/Release/net10.0/tandem.dll model synth --preset smollm-135m --type $t \
      --vocab-from ../shared/models/vocab/ggml-vocab-gpt-2.gguf -o "$m" > /dev/null
    MODELS+=("$m")
  done
fi
for m in "${MODELS[@]}"; do [ -f "$m" ] || { echo "error: $m: no such file" >&2; exit 1; }; done

OUT=${OUT:-artifacts/anchor/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
TANDEM_BENCH="dotnet bench/Tandem.Bench/bin/Release/net10.0/Tandem.Bench.dll"
bundle_flag=(); [ "$BUNDLE" = 1 ] || bundle_flag=(--no-bundle)
printf 'isa\tround\tmodel\tengine\tstart_utc\tloadavg_before\tloadavg_after\twaited_s\n' > "$OUT/load.tsv"
{ echo "llama.cpp $COMMIT from $SRC"; grep -m1 'model name' /proc/cpuinfo; uname -srm; dotnet --version; } > "$OUT/machine.txt"

QUIET_WAIT=${QUIET_WAIT:-0}
waited=0
wait_quiet() { # at most QUIET_WAIT seconds, until only the reader itself is runnable (/proc/loadavg's 4th field) for 5 s
  local quiet=0; waited=0
  while [ "$quiet" -lt 5 ] && [ "$waited" -lt "$QUIET_WAIT" ]; do
    if [ "$(cut -d' ' -f4 /proc/loadavg | cut -d/ -f1)" -le 1 ]; then quiet=$((quiet + 1)); else quiet=0; fi
    sleep 1; waited=$((waited + 1))
  done
}
# One engine on one model in one round; the load average around it goes to load.tsv. Pairs are per model, so
# that the two sides of a pair run seconds apart rather than minutes.
run() { # isa round model engine
  local isa=$1 round=$2 model=$3 engine=$4 stem start before env=()
  stem=$OUT/$isa/round-$round.$(basename "$model" .gguf)
  wait_quiet
  start=$(date -u +%FT%TZ); before=$(cut -d' ' -f1-3 /proc/loadavg)
  if [ "$engine" = llama.cpp ]; then
    "$BUILD_DIR/$isa/bin/llama-bench" -m "$model" -t "$THREADS" -p "$PP" -n "$TG" -r "$REPS" -fa 0,1 \
      -ctk "$KV" -ctv "$KV" -o json > "$stem.llama-bench.json" 2> "$stem.llama-bench.log"
  else
    [ "$isa" = avx2 ] && env=(DOTNET_EnableAVX512=0)
    env "${env[@]}" $TANDEM_BENCH engine "$model" --threads "$THREADS" --pp "$PP" --tg "$TG" --reps "$REPS" \
      --kv "$KV" --tg-from-empty "${bundle_flag[@]}" --json "$stem.tandem.json" > "$stem.tandem.txt"
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$isa" "$round" "$(basename "$model")" "$engine" "$start" "$before" \
    "$(cut -d' ' -f1-3 /proc/loadavg)" "$waited" >> "$OUT/load.tsv"
}
for isa in $ISAS; do
  mkdir -p "$OUT/$isa"
  for round in $(seq 1 "$ROUNDS"); do
    echo "== $isa round $round/$ROUNDS (load average $(cut -d' ' -f1-3 /proc/loadavg))"
    for model in "${MODELS[@]}"; do
      if [ $((round % 2)) = 1 ]; then order="llama.cpp tandem"; else order="tandem llama.cpp"; fi
      for engine in $order; do run "$isa" "$round" "$model" "$engine"; done
    done
  done
done
$TANDEM_BENCH anchor-report "$OUT" --commit "$COMMIT" | tee "$OUT/report.md"
