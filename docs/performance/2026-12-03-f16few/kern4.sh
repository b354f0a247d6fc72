#!/usr/bin/env bash
# A/B of the F16 kernels per TinyLlama shape: b-tiles (main) vs b-pair (pair tiles for 2..32 tokens)
D=artifacts/s12-f16few; OUT=$D/kern-$1; mkdir -p $OUT
for shape in 5632x2048 2048x5632 32000x2048 2048x2048; do
  r=${shape%x*}; c=${shape#*x}
  for b in b-pair3 b-tiles; do
    dotnet $D/$b/Tandem.Bench.dll kernels --rows $r --cols $c --batch 4,8,12,16,24,32 --types f16 --json $OUT/$b-$shape.json > $OUT/$b-$shape.txt 2>&1
  done
done
