#!/usr/bin/env bash
# Batched decode (issue 9): decode tok/s with B sequences holding 128 tokens of context each (B = 1, 4, 16, 64), for
# Tandem (`Tandem.Bench batch --no-bundle`), optionally a baseline build of Tandem (BASE_REF) in A/B rounds whose
# order alternates, and native llama.cpp's llama-batched-bench on the same files (F32 KV with flash attention off, as
# Tandem's default; F16 KV with flash attention off and on, llama.cpp's defaults) in the same rounds, its turn
# alternating with Tandem's, for docs/performance.md ("Batched decode, issue 9"). Each Tandem run writes its raw JSON
# (with the load average per batch size) under OUT, each llama.cpp run its JSON lines; the end prints the median tok/s
# over the rounds per build, file and B, llama.cpp's median S_TG per setting, and Tandem ÷ the fastest setting.
#
#   bench/experiments/batch-decode.sh [MODEL.gguf ...]   (default artifacts/models/smollm-135m-{q8_0,q4_k,f16}.gguf)
#
# Knobs (environment): BASE_REF (a git commit: the engine of the "before" column, built with this tree's bench harness
# copied over it so that only the engine differs; empty: none), BASE_WEIGHTS (without BASE_REF: the "before" column is
# this build with --weights BASE_WEIGHTS, e.g. mapped: the weight placement's A/B; a BASE_REF older than the placement
# (589c17d) does not build under this harness), BASE_KV (likewise: the "before" column is this build with --kv BASE_KV,
# e.g. f16 against KV f32: the KV type's A/B), WEIGHTS (--weights of "now", auto),
# ROUNDS 3, THREADS 2, BATCHES 1,4,16,64, CTX 128, STEPS 32, REPS 2, KV f32, ISA (avx2: .NET's AVX2 path through
# DOTNET_EnableAVX512=0), LLAMA_BUILD (artifacts/llama.cpp/native: a llama.cpp CMake build folder; its
# llama-batched-bench is built there with ninja when missing; LLAMA=0 skips llama.cpp), LLAMA_CFGS (the llama.cpp
# settings, "KV fa" pairs separated by commas, default "f32 off,f16 off,f16 on"), LLAMA_ROUNDS (how many of the rounds
# also run llama.cpp, default all), OUT (artifacts/s6-batch/<UTC>).
# Duration on a quiet 2-core machine: about 1 minute per Tandem run (3 SmolLM files), so ~7 minutes with BASE_REF and
# 3 rounds, plus ~2 minutes per round for llama.cpp (TinyLlama F16 at B = 16,64: ~3 minutes per Tandem run, ~2 per
# llama.cpp setting).
set -euo pipefail
case ${1:-} in -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;; esac
cd "$(dirname "$0")/../.."
. bench/experiments/lib.sh
MODELS=("$@"); [ ${#MODELS[@]} -gt 0 ] || MODELS=(artifacts/models/smollm-135m-{q8_0,q4_k,f16}.gguf)
ROUNDS=${ROUNDS:-3}; THREADS=${THREADS:-2}; BATCHES=${BATCHES:-1,4,16,64}; CTX=${CTX:-128}; STEPS=${STEPS:-32}
REPS=${REPS:-2}; KV=${KV:-f32}; LLAMA=${LLAMA:-1}; LLAMA_BUILD=${LLAMA_BUILD:-artifacts/llama.cpp/native}
LLAMA_CFGS=${LLAMA_CFGS:-f32 off,f16 off,f16 on}; LLAMA_ROUNDS=${LLAMA_ROUNDS:-$ROUNDS}
OUT=${OUT:-artifacts/s6-batch/$(date -u +%Y%m%dT%H%M%SZ)}
for m in "${MODELS[@]}"; do [ -f "$m" ] || { echo "error: $m: no such file" >&2; exit 1; }; done
mkdir -p "$OUT"
ENV=(); [ "${ISA:-}" = avx2 ] && ENV=(DOTNET_EnableAVX512=0)

# Each build is copied out of its bin folder (building straight into one -o folder lost a package's assembly), so
# that later builds of the tree do not change what is measured.
# (A first build of a fresh copy once came out without System.IO.Hashing.dll, which the KV copy needs; a second build
# had it: checked, and built again once.)
bench_build() { # source root, name
  [ "${REUSE:-0}" = 1 ] && [ -f "$OUT/$2/System.IO.Hashing.dll" ] && return 0
  dotnet build "$1/bench/Tandem.Bench" -c Release -v q -nologo >/dev/null
  [ -f "$1/bench/Tandem.Bench/bin/Release/net10.0/System.IO.Hashing.dll" ] \
    || dotnet build "$1/bench/Tandem.Bench" -c Release -v q -nologo >/dev/null
  [ -f "$1/bench/Tandem.Bench/bin/Release/net10.0/System.IO.Hashing.dll" ] || {
    echo "error: $1/bench/Tandem.Bench built twice without System.IO.Hashing.dll (the KV copy needs it); build it by hand and rerun with REUSE=1" >&2; exit 1; }
  rm -rf "$OUT/$2" && cp -r "$1/bench/Tandem.Bench/bin/Release/net10.0" "$OUT/$2"
}
bench_build . now
BUILDS=(now)
if [ -n "${BASE_REF:-}" ]; then
  if ! { [ "${REUSE:-0}" = 1 ] && [ -f "$OUT/base/System.IO.Hashing.dll" ]; }; then
    mkdir -p "$OUT/base-src" && git archive "$BASE_REF" | tar -x -C "$OUT/base-src"
    cp bench/Tandem.Bench/*.cs bench/Tandem.Bench/*.csproj "$OUT/base-src/bench/Tandem.Bench/"
    bench_build "$OUT/base-src" base
  fi
  BUILDS=(base now)
elif [ -n "${BASE_WEIGHTS:-}" ] || [ -n "${BASE_KV:-}" ]; then
  rm -rf "$OUT/base" && cp -r "$OUT/now" "$OUT/base"
  BUILDS=(base now)
fi
weights_of() { if [ "$1" = base ] && [ -z "${BASE_REF:-}" ]; then echo "${BASE_WEIGHTS:-${WEIGHTS:-auto}}"; else echo "${WEIGHTS:-auto}"; fi; }
kv_of() { if [ "$1" = base ] && [ -z "${BASE_REF:-}" ]; then echo "${BASE_KV:-$KV}"; else echo "$KV"; fi; }

# One llama.cpp run of every file and setting: round $1's JSON lines.
llama_round() {
  local m name nctx cfg
  for m in "${MODELS[@]}"; do
    name=$(basename "$m" .gguf)
    # Every sequence has its own 128-token prompt and decodes STEPS tokens: n_ctx holds the largest batch's cells.
    nctx=$(( ${BATCHES##*,} * (CTX + STEPS) + 64 ))
    IFS=, read -ra cfgs <<< "$LLAMA_CFGS"
    for cfg in "${cfgs[@]}"; do
      set -- $cfg
      fa=(); [ "$2" = on ] && fa=(-fa)
      echo "round $r: llama.cpp $name KV $1 flash attention $2 (load $(loadavg))"
      "$LLAMA_BUILD/bin/llama-batched-bench" -m "$m" -t "$THREADS" -tb "$THREADS" -c "$nctx" -b 2048 -ub 512 \
        -npp "$CTX" -ntg "$STEPS" -npl "$BATCHES" -ctk "$1" -ctv "$1" "${fa[@]}" --output-format jsonl \
        > "$OUT/llama-$name-kv$1-fa$2-round$r.jsonl" 2> "$OUT/llama-$name-kv$1-fa$2-round$r.log"
    done
  done
}
if [ "$LLAMA" = 1 ]; then
  [ -x "$LLAMA_BUILD/bin/llama-batched-bench" ] || ninja -C "$LLAMA_BUILD" llama-batched-bench >/dev/null
  BUILDS+=(llama.cpp)
fi

echo "$(date -u +%FT%TZ), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-), $(nproc) cores, load average $(loadavg)"
for r in $(seq 1 "$ROUNDS"); do
  order=("${BUILDS[@]}"); [ $((r % 2)) -eq 0 ] && order=($(printf '%s\n' "${BUILDS[@]}" | tac))
  for b in "${order[@]}"; do
    if [ "$b" = llama.cpp ]; then
      [ "$r" -le "$LLAMA_ROUNDS" ] && llama_round
      continue
    fi
    echo "round $r: $b (load $(loadavg))"
    env "${ENV[@]}" dotnet "$OUT/$b/Tandem.Bench.dll" batch "${MODELS[@]}" --no-bundle --threads "$THREADS" \
      --batch "$BATCHES" --ctx "$CTX" --steps "$STEPS" --reps "$REPS" --kv "$(kv_of "$b")" --json "$OUT/$b-round$r.json" \
      $( [ "$b" = base ] && [ -n "${BASE_REF:-}" ] || echo --weights "$(weights_of "$b")" ) \
      > "$OUT/$b-round$r.txt"
  done
done
[ "$LLAMA" = 1 ] && { unset 'BUILDS[-1]'
  git -C "$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$LLAMA_BUILD/CMakeCache.txt")" log -1 --format='llama.cpp %h' 2>/dev/null || true; }

echo "medians over $ROUNDS rounds (tok/s over all sequences), load average at the end $(loadavg):"
python3 - "$OUT" "${BUILDS[@]}" <<'PY'
import json, glob, os, statistics, sys
out, builds = sys.argv[1], sys.argv[2:]
rows = {}
for b in builds:
    for f in sorted(glob.glob(f"{out}/{b}-round*.json")):
        for e in json.load(open(f))["results"]:
            rows.setdefault((e["file"], e["batch"]), {}).setdefault(b, []).append(e["tandem_tok_per_sec"])
llama = {}
for f in sorted(glob.glob(f"{out}/llama-*.jsonl")):
    cfg = os.path.basename(f)[len("llama-"):-len(".jsonl")]
    if "-round" in cfg: cfg = cfg[:cfg.rindex("-round")]  # older runs: one file per setting, no round
    name, kv, fa = cfg.rsplit("-", 2)
    for line in open(f).readlines() + open(f[:-len(".jsonl")] + ".log").readlines():  # LOG may go to either stream
        if line.startswith("{"):
            e = json.loads(line)
            llama.setdefault((name + ".gguf", e["pl"], kv + " " + fa), []).append(e["speed_tg"])
cfgs = sorted({k[2] for k in llama})
ratio = bool(cfgs) and "now" in builds
print("| file | B | " + " | ".join(f"Tandem {b}" for b in builds) + "".join(f" | llama.cpp {c}" for c in cfgs)
      + (" | now ÷ fastest llama.cpp" if ratio else "") + " |")
print("|---|---:|" + "---:|" * (len(builds) + len(cfgs) + ratio))
for (file, batch), v in sorted(rows.items()):
    cells = [f"{statistics.median(v[b]):.1f} ({len(v[b])})" if b in v else "–" for b in builds]
    med = {c: statistics.median(llama[(file, batch, c)]) for c in cfgs if (file, batch, c) in llama}
    cells += [f"{med[c]:.1f} ({len(llama[(file, batch, c)])})" if c in med else "–" for c in cfgs]
    if ratio: cells.append(f"{statistics.median(v['now']) / max(med.values()):.2f}" if med and "now" in v else "–")
    print(f"| {file} | {batch} | " + " | ".join(cells) + " |")
print("(n): rounds behind each median")
PY
