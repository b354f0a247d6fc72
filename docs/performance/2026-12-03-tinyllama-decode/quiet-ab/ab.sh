#!/bin/bash
# Quiet A/B: main at the session's start (9ad1ab9) against 357de8d (today's one-token and F16 tile prefetch), batch-1
# decode on both shapes, 2 threads, F16 KV, from an empty cache, rounds alternating which goes first.
Q=/work/artifacts/s10-quiet/ab; mkdir -p $Q
cd /work/main && git worktree add --detach /work/wt-old 9ad1ab9 >/dev/null 2>&1
cd /work/wt-old && dotnet build bench/Tandem.Bench -c Release -v q -o /work/artifacts/s10-quiet/old-bench > $Q/build.log 2>&1
OLD="dotnet /work/artifacts/s10-quiet/old-bench/Tandem.Bench.dll"
NEW="dotnet /work/wt-quiet/bench/Tandem.Bench/bin/Release/net10.0/Tandem.Bench.dll"
M=/work/artifacts/models
for r in 1 2 3 4; do
  if [ $((r % 2)) = 1 ]; then order="old new"; else order="new old"; fi
  for side in $order; do
    [ $side = old ] && B=$OLD || B=$NEW
    $B engine $M/smollm-135m-f16.gguf $M/smollm-135m-q8_0.gguf $M/tinyllama-1.1b-f16.gguf $M/tinyllama-1.1b-q8_0.gguf \
      --threads 2 --pp 64 --tg 128 --reps 1 --kv f16 --tg-from-empty --no-bundle --json $Q/$side-r$r.json > $Q/$side-r$r.txt 2>&1
    echo "$side r$r $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)" >> $Q/load.txt
  done
done
cd /work/main && git worktree remove --force /work/wt-old
