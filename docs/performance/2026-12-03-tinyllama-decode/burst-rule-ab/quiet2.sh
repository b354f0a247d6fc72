#!/bin/bash
# Second quiet window: F16 and Q4_K on both shapes after the F16 attention sum and the Q4_K one-token kernels, and the
# one-token burst/spread size rule A/B.
Q=/work/artifacts/s10-quiet
stamp() { echo "== $1 $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)"; }
cd /work/wt-quiet && git checkout -q --detach main && stamp "start $(git rev-parse --short HEAD)"
dotnet build bench/Tandem.Bench -c Release -v q > $Q/quiet2-build.log 2>&1
stamp burst
B="dotnet /work/artifacts/s10-burst-bench/Tandem.Bench.dll"; mkdir -p $Q/burst
for r in 1 2 3 4; do for lim in 0 4096; do [ $((r%2)) = 0 ] && lim=$((4096-lim))
  TANDEM_BURST_LIMIT=$lim $B engine artifacts/models/smollm-135m-f16.gguf artifacts/models/tinyllama-1.1b-f16.gguf artifacts/models/smollm-135m-q8_0.gguf \
    --threads 2 --pp 16 --tg 128 --reps 1 --kv f16 --tg-from-empty --no-bundle --json $Q/burst/l$lim-r$r.json > /dev/null 2>&1
  echo "r$r lim$lim $(date -u +%H:%M:%S) $(cut -d' ' -f1-3 /proc/loadavg)" >> $Q/burst/load.txt; done; done
stamp anchor2
SKIP_BUILD=1 BUILD_DIR=/work/artifacts/llama.cpp BUNDLE=0 ISAS=native ROUNDS=3 TYPES="f16 q4_k" OUT=$Q/anchor2 \
  bench/llama-cpp/build-and-bench.sh /work/artifacts/llama.cpp-src > $Q/anchor2.log 2>&1; echo "rc=$?"
stamp end
