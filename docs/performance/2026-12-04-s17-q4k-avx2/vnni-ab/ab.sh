#!/bin/bash
# Session 17: Q4_K's AVX2 four-token dot with vpdpwssd (AVX-VNNI) against the build before (ed93bc2), A/B rounds in
# alternating order, .NET's AVX2 path (DOTNET_EnableAVX512=0), 2 threads, quiet machine. before = /work/wt-run at ed93bc2,
# after = /work/main at the change.
OUT=$(dirname "$0")
export DOTNET_EnableAVX512=0
B=/work/wt-run/bench/Tandem.Bench/bin/Release/net10.0/Tandem.Bench.dll
A=/work/main/bench/Tandem.Bench/bin/Release/net10.0/Tandem.Bench.dll
M=/work/main/artifacts/models/tinyllama-1.1b-q4_k.gguf
for r in 1 2 3; do
  if [ $((r % 2)) = 1 ]; then order="before after"; else order="after before"; fi
  for side in $order; do
    dll=$B; [ $side = after ] && dll=$A
    echo "== round $r $side $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)"
    dotnet $dll kernels --rows 2048 --cols 5632 --batch 1,16,64 --types q4_k --json $OUT/kernels-$side-$r.json > $OUT/kernels-$side-$r.txt
    dotnet $dll batch $M --batch 16,64 --kv f16 --no-bundle --reps 2 --json $OUT/batch-$side-$r.json > $OUT/batch-$side-$r.txt
    dotnet $dll engine $M --pp 512 --tg 16 --reps 2 --kv f16 --no-bundle --json $OUT/engine-$side-$r.json > $OUT/engine-$side-$r.txt
  done
done
