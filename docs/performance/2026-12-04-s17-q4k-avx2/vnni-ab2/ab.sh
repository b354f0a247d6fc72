#!/bin/bash
# Session 17, second A/B: Q4_K's AVX2 four-token dot with vpdpwssd and two integer chains per token (low and high
# sub-blocks) against the build before (ed93bc2); rounds in alternating order, .NET's AVX2 path (DOTNET_EnableAVX512=0),
# 2 threads, quiet machine; batched decode with 32 steps and 3 repetitions, prefill of 512 with 3 repetitions.
OUT=$(dirname "$0")
export DOTNET_EnableAVX512=0
B=/work/wt-run/bench/Tandem.Bench/bin/Release/net10.0/Tandem.Bench.dll
A=/work/main/bench/Tandem.Bench/bin/Release/net10.0/Tandem.Bench.dll
M=/work/main/artifacts/models/tinyllama-1.1b-q4_k.gguf
for r in 1 2 3 4; do
  if [ $((r % 2)) = 1 ]; then order="before after"; else order="after before"; fi
  for side in $order; do
    dll=$B; [ $side = after ] && dll=$A
    echo "== round $r $side $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)"
    dotnet $dll batch $M --batch 16,64 --steps 32 --kv f16 --no-bundle --reps 3 --json $OUT/batch-$side-$r.json > $OUT/batch-$side-$r.txt
    dotnet $dll engine $M --pp 512 --tg 8 --reps 3 --kv f16 --no-bundle --json $OUT/engine-$side-$r.json > $OUT/engine-$side-$r.txt
  done
done
echo "== end $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)"
