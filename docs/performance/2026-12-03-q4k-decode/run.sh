#!/bin/bash
# A/B of the Q4_K one-token kernels (new, branch s10-q4k) against main (old); one thread, thread CPU time.
cd /work/wt-q4k
NEW=$PWD/bench/Tandem.Bench/bin/Release/net10.0/Tandem.Bench
OLD=/tmp/s10q4k-base/bench/Tandem.Bench/bin/Release/net10.0/Tandem.Bench
O=artifacts/s10-q4k/${1:-ab}
mkdir -p $O
la() { cut -d' ' -f1-3 /proc/loadavg; }
for round in 1 2; do
  for shape in 32000x2048 5632x2048; do
    for v in old new; do
      B=$OLD; [ $v = new ] && B=$NEW
      echo "== kernels $shape $v r$round $(date -u +%H:%M:%S) load $(la)"
      $B kernels --rows ${shape%x*} --cols ${shape#*x} --batch 1 --types q4_k --json $O/kernels-$shape-$v-r$round.json > $O/kernels-$shape-$v-r$round.txt 2>&1
    done
  done
done
M=$PWD/artifacts/models
for model in tinyllama-1.1b-q4_k smollm-135m-q4_k; do
  for v in old new; do
    B=$OLD; [ $v = new ] && B=$NEW
    echo "== engine $model $v $(date -u +%H:%M:%S) load $(la)"
    $B engine $M/$model.gguf --threads 1 --pp 16 --tg 64 --kv f16 --tg-from-empty --json $O/engine-t1-$model-$v.json > $O/engine-t1-$model-$v.txt 2>&1
  done
done
echo "== end $(date -u +%H:%M:%S) load $(la)"
