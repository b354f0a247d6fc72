#!/usr/bin/env bash
# SmolLM-135M shapes: b-pair3 (pair tiles for 2..32 tokens) vs b-tiles (main)
D=artifacts/s12-f16few; OUT=$D/kern-$1; mkdir -p $OUT
for shape in 576x576 192x576 1536x576 576x1536 49152x576; do
  r=${shape%x*}; c=${shape#*x}
  for b in b-pair3 b-tiles; do
    dotnet $D/$b/Tandem.Bench.dll kernels --rows $r --cols $c --batch 2,4,6,8,12,16 --types f16 --json $OUT/$b-$shape.json > $OUT/$b-$shape.txt 2>&1
  done
done
