#!/bin/bash
# Engine A/B at B = 16 (and 64), main and branch alternating; each run's JSON and the load beside it.
OUT=${OUT:-.}; MODEL=${MODEL:-/work/artifacts/models/tinyllama-1.1b-f16.gguf}
for i in $(seq ${ROUNDS:-1}); do for side in main branch; do
  if [ $side = main ]; then d=/work/wt-f16batch/artifacts/s13-f16batch/main-src; else d=/work/wt-f16batch; fi
  echo "$side round $i start load $(cut -d' ' -f1-3 /proc/loadavg) $(date -u +%T)"
  (cd $d && dotnet bench/Tandem.Bench/bin/Release/net10.0/Tandem.Bench.dll batch $MODEL --threads 2 --batch ${BATCHES:-16,64} --ctx 128 --steps ${STEPS:-8} --reps 1 --json $OUT/batch-$side-$i.json 2>&1 | grep -v "^$" | tail -6)
done; done
