#!/usr/bin/env bash
# TinyLlama shapes: b-wide (1 row x 8 tokens for 2..32) vs b-pair4 (2 rows x 6 tokens for 2..32) vs b-tiles (main)
D=artifacts/s12-f16few; OUT=$D/kern-$1; mkdir -p $OUT
for shape in 5632x2048 2048x5632 2048x2048 32000x2048; do
  r=${shape%x*}; c=${shape#*x}
  for b in b-wide b-pair4 b-tiles; do
    dotnet $D/$b/Tandem.Bench.dll kernels --rows $r --cols $c --batch 4,8,12,16,24,32 --types f16 --json $OUT/$b-$shape.json > $OUT/$b-$shape.txt 2>&1
  done
done
