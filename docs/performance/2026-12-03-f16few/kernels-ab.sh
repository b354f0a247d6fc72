#!/usr/bin/env bash
# The kernel A/B runs of this folder: for each R x C shape, each build's `Tandem.Bench kernels` (F16 only, 1 thread,
# thread CPU time) one after the other, builds in the order given. Builds were copies of bench/Tandem.Bench's Release
# output: b-tiles = main (911f0c3), b-rows = main with MinRowTileTokens 1000, b-pair3 = 415603c's kernel before its
# thresholds (pair tiles for 2..32 tokens at any width), b-pair4 = 9773380 with MaxPairTileTokens 32, b-wide = one row x 8
# tokens (not kept).
#   kernels-ab.sh OUT "BUILDS" "SHAPES" BATCHES
# kernels-rows-vs-tiles: "b-tiles b-rows" "2048x2048 256x2048 5632x2048 2048x5632 32000x2048" 8,12,16,24,32,64
# kernels-pair-step1:   "b-pair3 b-tiles" "5632x2048 2048x5632 32000x2048 2048x2048" 4,8,12,16,24,32
# kernels-pair-smollm:  "b-pair3 b-tiles" "576x576 192x576 1536x576 576x1536 49152x576" 2,4,6,8,12,16
# kernels-pair-step2:   "b-pair4 b-tiles" "5632x2048 2048x5632 2048x2048 32000x2048" 4,8,12,16,24,32
# kernels-wide-tried:   "b-wide b-pair4 b-tiles" "5632x2048 2048x5632 2048x2048 32000x2048" 4,8,12,16,24,32
D=artifacts/s12-f16few; OUT=$1; mkdir -p "$OUT"
for shape in $3; do
  r=${shape%x*}; c=${shape#*x}
  for b in $2; do
    dotnet $D/$b/Tandem.Bench.dll kernels --rows $r --cols $c --batch $4 --types f16 --json $OUT/$b-$shape.json > $OUT/$b-$shape.txt 2>&1
  done
done
