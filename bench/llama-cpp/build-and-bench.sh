#!/usr/bin/env bash
# The native anchor (issue 9): builds llama.cpp from a source checkout the way its users build it
# (-march=native), and once more for AVX2 only, then times llama-bench and Tandem's own bench on the same
# GGUF files, same thread count, in alternating rounds (A/B pairs), and prints one side-by-side table:
# Tandem, the LLamaSharp bundle and native llama.cpp with flash attention off and on, with the date, the
# CPU model, its ISA, the load average and the llama.cpp commit; beside each decode figure the memory-bandwidth
# limit (the read bandwidth Tandem's bench measures with the same threads ÷ the weight bytes a decode step reads)
# and each engine's share of it; and each engine's peak resident memory per file. Raw JSON reports go to $OUT
# (report.md: the table, report.json: the same as JSON).
#
#   bench/llama-cpp/build-and-bench.sh LLAMA_CPP_SRC [MODEL.gguf ...]
#
# LLAMA_CPP_SRC is a llama.cpp source tree outside this repository (a git checkout, so that the commit is
# known; for a tree without .git set LLAMA_CPP_COMMIT). It is never copied here. From a bare mirror:
#   git clone --no-checkout MIRROR /tmp/llama.cpp && cd /tmp/llama.cpp &&
#   git sparse-checkout set --no-cone '/*' '!/models/' && git checkout HEAD   (models/ holds large files)
# Without MODEL arguments the files are artifacts/models/SHAPE-TYPE.gguf for every SHAPE and TYPE below,
# synthesized when missing (random weights, `tandem model synth`).
#
# Knobs (environment):
#   BUILD_DIR  where llama.cpp is built, one folder per ISA (default artifacts/llama.cpp)
#   OUT        raw reports and the table (default artifacts/anchor/<UTC date-time>)
#   ISAS       "native avx2" on a machine with AVX-512, else "native"; avx2 = llama.cpp built with
#              GGML_NATIVE=OFF AVX2+FMA+F16C (AVX-512 off) against Tandem with DOTNET_EnableAVX512=0
#   SHAPES     "smollm-135m tinyllama-1.1b" (model presets; vocabularies GPT-2 and llama SPM from ../shared/models/vocab)
#   TYPES      "f16 q8_0 q4_k": synth's weight types (q4_k: Q4_K where rows fit 256-element blocks, else
#              llama-quantize's fallback Q5_0); q4_k_m: llama-quantize's Q4_K_M mix (Q6_K output and half of
#              attn_v/ffn_down) made from the f16 file by the native build's llama-quantize
#   REPS       repetitions inside each bench run (llama-bench -r); ROUNDS: A/B pairs (each round runs both,
#              alternating which goes first). Per shape: REPS_<SHAPE>, ROUNDS_<SHAPE> (SHAPE upper-cased, other
#              characters _, e.g. REPS_TINYLLAMA_1_1B); a shape without either takes REPS/ROUNDS, else its default:
#              5 rounds; 2 repetitions for smollm-135m, 1 for tinyllama-1.1b, 3 for other shapes (about 40 min in
#              all for the default files, both ISAs, on a quiet 2-core Zen 5)
#   THREADS 2, PP 512, TG 128, KV f16 (KV cache type of both engines; llama.cpp's default), JOBS 2 (compile jobs)
#   TARGETS    llama.cpp targets to build (default "llama-bench llama-cli llama-server llama-batched-bench llama-quantize")
#   BUNDLE     1 also times the LLamaSharp bundle inside Tandem's bench run; 0 skips it
#   QUIET_WAIT seconds to wait before each run for the machine to fall quiet (nothing else runnable for 5 s
#              in a row); 0 (default) runs at once. On a shared machine the load average goes beside every
#              figure either way, and llama.cpp's spinning thread pool slows down far more than Tandem's when
#              another process takes a core, so figures taken under load flatter Tandem.
#   BUILD_ONLY 1 stops after building; SKIP_BUILD 1 reuses an existing build
# Peak resident memory: llama-bench's from /usr/bin/time (the whole process: one model load serves fa off and on
# and every repetition), Tandem's from its bench (per file, reset before each). It prints the expected duration
# before it starts and a progress line after each file's A/B pair.
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
THREADS=${THREADS:-2}; PP=${PP:-512}; TG=${TG:-128}; KV=${KV:-f16}; JOBS=${JOBS:-2}
SHAPES=${SHAPES:-smollm-135m tinyllama-1.1b}; TYPES=${TYPES:-f16 q8_0 q4_k}
TARGETS=${TARGETS:-llama-bench llama-cli llama-server llama-batched-bench llama-quantize}
BUNDLE=${BUNDLE:-1}
if grep -qw avx512f /proc/cpuinfo; then ISAS=${ISAS:-native avx2}; else ISAS=${ISAS:-native}; fi
case $KV in f16|f32) ;; *) echo "error: KV must be f16 or f32, got $KV" >&2; exit 2 ;; esac

# Repetitions and rounds of one model file: its shape's REPS_<SHAPE>/ROUNDS_<SHAPE>, else REPS/ROUNDS, else the
# shape's default (TinyLlama-1.1B's runs take ~6x SmolLM-135M's, so one repetition a round keeps the whole run near
# 40 minutes; with 5 rounds the median still has 5 samples).
shape_of() { basename "$1" .gguf | sed 's/-[^-]*$//'; }
knob() { # name model → the value
  local shape key default
  shape=$(shape_of "$2"); key=${1}_$(echo "$shape" | tr '[:lower:]' '[:upper:]' | tr -c 'A-Z0-9\n' '_')
  case $1/$shape in REPS/smollm-135m) default=2 ;; REPS/tinyllama-1.1b) default=1 ;; REPS/*) default=3 ;; ROUNDS/*) default=5 ;; esac
  echo "${!key:-${!1:-$default}}"
}
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
TANDEM_CLI="dotnet src/Tandem.Cli/bin/Release/net10.0/tandem.dll"
make_model() { # shape type path
  local vocab
  case $1 in
    smollm-135m) vocab=ggml-vocab-gpt-2.gguf ;;
    tinyllama-1.1b) vocab=ggml-vocab-llama-spm.gguf ;;
    *) echo "error: no vocabulary known for shape $1: synthesize the files yourself and pass them as arguments" >&2; exit 2 ;;
  esac
  echo "== writing $3"
  if [ "$2" = q4_k_m ]; then
    local f16=artifacts/models/$1-f16.gguf quantize=$BUILD_DIR/native/bin/llama-quantize
    [ -f "$f16" ] || make_model "$1" f16 "$f16"
    [ -x "$quantize" ] || { echo "error: $quantize: not built (TARGETS must hold llama-quantize)" >&2; exit 1; }
    "$quantize" "$f16" "$3.tmp" Q4_K_M "$THREADS" > "$3.quantize.log" 2>&1 || { tail -20 "$3.quantize.log" >&2; exit 1; }
    mv "$3.tmp" "$3"
  else
    # shellcheck disable=SC2086 # TANDEM_CLI is a command line
    $TANDEM_CLI model synth --preset "$1" --type "$2" --vocab-from "../shared/models/vocab/$vocab" -o "$3" > /dev/null
  fi
}
if [ ${#MODELS[@]} -eq 0 ]; then
  mkdir -p artifacts/models
  for shape in $SHAPES; do
    for t in $TYPES; do
      m=artifacts/models/$shape-$t.gguf
      [ -f "$m" ] || make_model "$shape" "$t" "$m"
      MODELS+=("$m")
    done
  done
fi
for m in "${MODELS[@]}"; do
  [ -f "$m" ] || { echo "error: $m: no such file" >&2; exit 1; }
  for k in REPS ROUNDS; do
    [ "$(knob $k "$m")" -ge 1 ] 2>/dev/null || { echo "error: $k for $(shape_of "$m") must be at least 1, got '$(knob $k "$m")'" >&2; exit 2; }
  done
done

# Expected seconds of one round of one file (both engines), from quiet runs on 2 Zen 5 cores: one pp512 and one
# tg128 take about 0.8 s and 1.1 s on SmolLM-135M (mean over F16, Q8_0, Q4_K and both engines, measured), 6 s and
# 5 s on TinyLlama-1.1B (scaled from SmolLM: 7.5x the matmul work, weights read at ~70% of 50 GB/s); other files
# scale with their size. Tandem's run is a warm-up pass and REPS timed ones; llama-bench's
# is that for fa off and again for fa on; a few seconds each to start and load.
estimate() { # model isa
  local pp tg
  case $(shape_of "$1") in
    smollm-135m) pp=0.8 tg=1.1 ;;
    tinyllama-1.1b) pp=6 tg=5 ;;
    *) pp=$(stat -c %s "$1" | awk '{print 0.8 * $1 / 270e6}'); tg=$(stat -c %s "$1" | awk '{print 1.1 * $1 / 270e6}') ;;
  esac
  awk -v pp="$pp" -v tg="$tg" -v r="$(knob REPS "$1")" -v P="$PP" -v T="$TG" -v th="$THREADS" -v isa="$2" 'BEGIN {
    s = (pp * P / 512 * 3 * (r + 1) + tg * T / 128 * 3 * r) * 2 / th + 6
    printf "%.0f\n", (isa == "avx2" ? 1.15 : 1) * s }'
}
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
# llama-bench's peak resident KiB goes to a file beside its report (GNU time's %M); without GNU time, an empty file.
HAVE_TIME=0; /usr/bin/time -f %M -o /dev/null true 2>/dev/null && HAVE_TIME=1
[ $HAVE_TIME = 1 ] || echo "note: no GNU /usr/bin/time: llama-bench's peak memory is not measured" >&2
peak_rss() { # file command...
  local file=$1; shift
  if [ $HAVE_TIME = 1 ]; then /usr/bin/time -f %M -o "$file" "$@"; else : > "$file"; "$@"; fi
}
# One engine on one model in one round; the load average around it goes to load.tsv. Pairs are per model, so
# that the two sides of a pair run seconds apart rather than minutes.
run() { # isa round model engine
  local isa=$1 round=$2 model=$3 engine=$4 stem start before reps env=()
  stem=$OUT/$isa/round-$round.$(basename "$model" .gguf)
  wait_quiet
  start=$(date -u +%FT%TZ); before=$(cut -d' ' -f1-3 /proc/loadavg)
  reps=$(knob REPS "$model")
  if [ "$engine" = llama.cpp ]; then
    peak_rss "$stem.llama-bench.maxrss" "$BUILD_DIR/$isa/bin/llama-bench" -m "$model" -t "$THREADS" -p "$PP" -n "$TG" -r "$reps" -fa 0,1 \
      -ctk "$KV" -ctv "$KV" -o json > "$stem.llama-bench.json" 2> "$stem.llama-bench.log"
  else
    [ "$isa" = avx2 ] && env=(DOTNET_EnableAVX512=0)
    env "${env[@]}" $TANDEM_BENCH engine "$model" --threads "$THREADS" --pp "$PP" --tg "$TG" --reps "$reps" \
      --kv "$KV" --tg-from-empty "${bundle_flag[@]}" --json "$stem.tandem.json" > "$stem.tandem.txt"
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$isa" "$round" "$(basename "$model")" "$engine" "$start" "$before" \
    "$(cut -d' ' -f1-3 /proc/loadavg)" "$waited" >> "$OUT/load.tsv"
}
max_rounds=0; planned=0; expected=0
for m in "${MODELS[@]}"; do
  r=$(knob ROUNDS "$m"); [ "$r" -gt "$max_rounds" ] && max_rounds=$r
  for isa in $ISAS; do planned=$((planned + 2 * r)); expected=$((expected + r * $(estimate "$m" "$isa"))); done
done
echo "== $planned runs ($(for m in "${MODELS[@]}"; do printf '%s %sx%s, ' "$(basename "$m" .gguf)" "$(knob ROUNDS "$m")" "$(knob REPS "$m")"; done | sed 's/, $//') rounds x repetitions; ISAs $ISAS)"
echo "== expected duration about $(( (expected + 59) / 60 )) min on a quiet 2-core Zen 5 at $THREADS threads (under load far longer); results in $OUT"
t_start=$(date +%s); done_runs=0; done_expected=0
for isa in $ISAS; do
  mkdir -p "$OUT/$isa"
  for round in $(seq 1 "$max_rounds"); do
    echo "== $isa round $round/$max_rounds (load average $(cut -d' ' -f1-3 /proc/loadavg))"
    for model in "${MODELS[@]}"; do
      [ "$round" -le "$(knob ROUNDS "$model")" ] || continue
      if [ $((round % 2)) = 1 ]; then order="llama.cpp tandem"; else order="tandem llama.cpp"; fi
      for engine in $order; do
        run "$isa" "$round" "$model" "$engine"
        done_runs=$((done_runs + 1))
      done
      done_expected=$((done_expected + $(estimate "$model" "$isa")))
      elapsed=$(( $(date +%s) - t_start ))
      # What is left, at the pace so far against the estimate.
      left=$(awk -v e="$elapsed" -v d="$done_expected" -v t="$expected" 'BEGIN { printf "%.0f", (d > 0 ? (t - d) * e / d / 60 : 0) }')
      echo "   [$done_runs/$planned] $(basename "$model" .gguf) done; $((elapsed / 60)) min so far, about $left min left (load average $(cut -d' ' -f1-3 /proc/loadavg))"
    done
  done
done
$TANDEM_BENCH anchor-report "$OUT" --commit "$COMMIT" --json "$OUT/report.json" | tee "$OUT/report.md"
