#!/bin/bash
cd /work/wt-thp
B=bench/Tandem.Bench/bin/Release/net10.0/Tandem.Bench.dll; M=/work/artifacts/models/tinyllama-1.1b-f16.gguf; O=/work/artifacts/s15/thp2; mkdir -p $O
for r in 1 2; do for v in 0 1; do [ $r = 2 ] && v=$((1-v))
  TANDEM_EXP_HUGE=$v dotnet $B batch $M --no-bundle --threads 2 --batch 1,64 --ctx 128 --steps 32 --reps 2 --kv f32 > $O/batch-huge$v-r$r.txt 2>&1 &
  p=$!; sleep 30; for c in $(pgrep -f Tandem.Bench); do grep -H AnonHuge /proc/$c/smaps_rollup; done; wait $p
  TANDEM_EXP_HUGE=$v dotnet $B engine $M --no-bundle --threads 2 --pp 512 --tg 128 --reps 2 > $O/engine-huge$v-r$r.txt 2>&1
  echo "huge=$v r=$r"; grep -E '^\| (1|64) ' $O/batch-huge$v-r$r.txt; grep -iE 'tok/s|prefill|decode' $O/engine-huge$v-r$r.txt | tail -4
done; done
