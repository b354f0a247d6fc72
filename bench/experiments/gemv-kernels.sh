#!/usr/bin/env bash
# Batch-1 decode kernels (issue 9, matrix x one-token kernels): `Tandem.Bench kernels` (1 thread, thread CPU time, ns
# per 32 products) for a baseline build and this tree in A/B rounds whose order alternates, on .NET's AVX-512 path and
# its AVX2 path (DOTNET_EnableAVX512=0), SmolLM-135M's FFN shape (576 x 1536, in cache) and a shape out of cache
# (8192 x 4096); then optionally decode tok/s of the engine on the synthesized files (ENGINE=1). Raw JSON per run under
# OUT; the end prints one markdown table per ISA and shape: median n = 1 figure per build, ratio, load average.
#
#   bench/experiments/gemv-kernels.sh
#
# Knobs (environment): BASE_REF (the "before" commit, default: the merge base with main), ROUNDS 3, BATCHES 1,4 (n = 4
# runs the same code in both builds: its ratio shows how far the machine moved between them), ISAS "avx512 avx2",
# SHAPES "576x1536 8192x4096", ENGINE 0 (1: also `engine --no-bundle --pp 16 --tg 64 --tg-from-empty --kv f16 --reps 3` on
# artifacts/models/smollm-135m-{f16,q8_0,q4_k}.gguf per build and round), OUT (artifacts/s7-gemv/<UTC>).
# Duration on a quiet 2-core machine: ~1 minute per kernels run, so ~12 minutes with the defaults (+ ~1 minute per
# engine run).
set -euo pipefail
case ${1:-} in -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;; esac
cd "$(dirname "$0")/../.."
. bench/experiments/lib.sh
BASE_REF=${BASE_REF:-$(git merge-base HEAD main)}; ROUNDS=${ROUNDS:-3}; BATCHES=${BATCHES:-1,4}
ISAS=${ISAS:-avx512 avx2}; SHAPES=${SHAPES:-576x1536 8192x4096}; ENGINE=${ENGINE:-0}
OUT=${OUT:-artifacts/s7-gemv/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"

bench_base_and_now "$BASE_REF"    # $OUT/now and $OUT/base
echo "base $(git rev-parse --short "$BASE_REF"), now $(git rev-parse --short HEAD)$(git diff --quiet || echo ' + uncommitted changes')" | tee "$OUT/builds.txt"

echo "$(date -u +%FT%TZ), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-), $(nproc) cores, load average $(loadavg)"
for r in $(seq 1 "$ROUNDS"); do
  order=(base now); [ $((r % 2)) -eq 0 ] && order=(now base)
  for isa in $ISAS; do
    env=(); [ "$isa" = avx2 ] && env=(DOTNET_EnableAVX512=0)
    for shape in $SHAPES; do
      set -- ${shape/x/ }
      for b in "${order[@]}"; do
        echo "round $r: $b $isa ${1}x$2 (load $(loadavg))"
        env "${env[@]}" dotnet "$OUT/$b/Tandem.Bench.dll" kernels --rows "$1" --cols "$2" --batch "$BATCHES" \
          --json "$OUT/kernels-$b-$isa-${1}x$2-round$r.json" > "$OUT/kernels-$b-$isa-${1}x$2-round$r.txt"
      done
    done
    if [ "$ENGINE" = 1 ]; then
      for b in "${order[@]}"; do
        echo "round $r: $b $isa engine (load $(loadavg))"
        env "${env[@]}" dotnet "$OUT/$b/Tandem.Bench.dll" engine artifacts/models/smollm-135m-{f16,q8_0,q4_k}.gguf --no-bundle \
          --threads 2 --pp 16 --tg 64 --tg-from-empty --kv f16 --reps 3 --json "$OUT/engine-$b-$isa-round$r.json" \
          > "$OUT/engine-$b-$isa-round$r.txt"
      done
    fi
  done
done
python3 bench/experiments/gemv-kernels-summary.py "$OUT" | tee "$OUT/summary.md"
