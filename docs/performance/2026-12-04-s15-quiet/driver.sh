#!/bin/bash
# Session 15's quiet window, after the weights moved into huge pages: every anchor row (both shapes, three types, both
# ISAs, 5 rounds) and batched decode (SmolLM's three files on both ISAs, TinyLlama's three files on AVX-512) with
# llama.cpp's fastest setting (F16 KV, flash attention on) in the same rounds. PARTS picks what runs.
cd /work/wt-run
Q=/work/artifacts/s15
PARTS=${PARTS:-anchor-native anchor-avx2 batch-smollm batch-smollm-avx2 batch-tinyllama}
stamp() { echo "== $1 $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg) commit $(git rev-parse --short HEAD)"; }
stamp start
for part in $PARTS; do
  stamp $part
  case $part in
    anchor-native) SKIP_BUILD=1 BUILD_DIR=/work/artifacts/llama.cpp BUNDLE=0 ISAS=native OUT=$Q/anchor-native \
      bench/llama-cpp/build-and-bench.sh /work/artifacts/llama.cpp-src > $Q/anchor-native.log 2>&1 ;;
    anchor-avx2) SKIP_BUILD=1 BUILD_DIR=/work/artifacts/llama.cpp BUNDLE=0 ISAS=avx2 REPS_TINYLLAMA_1_1B=1 OUT=$Q/anchor-avx2 \
      bench/llama-cpp/build-and-bench.sh /work/artifacts/llama.cpp-src > $Q/anchor-avx2.log 2>&1 ;;
    batch-smollm) LLAMA_BUILD=/work/artifacts/llama.cpp/native ROUNDS=${BATCH_ROUNDS:-3} BATCHES=16,64 LLAMA_CFGS="f16 on" OUT=$Q/batch-smollm \
      bench/experiments/batch-decode.sh > $Q/batch-smollm.log 2>&1 ;;
    batch-smollm-avx2) ISA=avx2 LLAMA_BUILD=/work/artifacts/llama.cpp/avx2 ROUNDS=${BATCH_ROUNDS:-3} BATCHES=16,64 LLAMA_CFGS="f16 on" OUT=$Q/batch-smollm-avx2 \
      bench/experiments/batch-decode.sh > $Q/batch-smollm-avx2.log 2>&1 ;;
    batch-tinyllama) LLAMA_BUILD=/work/artifacts/llama.cpp/native ROUNDS=${BATCH_ROUNDS:-3} BATCHES=16,64 LLAMA_CFGS="f16 on" OUT=$Q/batch-tinyllama \
      bench/experiments/batch-decode.sh artifacts/models/tinyllama-1.1b-{q8_0,q4_k}.gguf > $Q/batch-tinyllama.log 2>&1 ;;
  esac
  echo "rc=$?"
done
stamp end
