#!/bin/bash
B=/work/artifacts/s15/hack-bin/Tandem.Bench.dll; M=/work/artifacts/models/tinyllama-1.1b-f16.gguf; O=/work/artifacts/s15/thp3; mkdir -p $O
for r in 1 2 3; do for v in 0 1; do [ $((r%2)) = 0 ] && v=$((1-v))
  TANDEM_EXP_HUGE=$v dotnet $B batch $M --no-bundle --threads 2 --batch 1,4 --ctx 128 --steps 64 --reps 3 --kv f32 > $O/batch-huge$v-r$r.txt 2>&1
  echo "huge=$v r=$r $(grep -E '^\| (1|4) ' $O/batch-huge$v-r$r.txt | cut -d'|' -f2,3 | tr '\n' ' ')"
done; done
