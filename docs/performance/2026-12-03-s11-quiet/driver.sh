#!/bin/bash
# Session 11's quiet window: the native anchor (both shapes, 5 rounds), cold start, the AVX2 anchor (5 rounds),
# batched decode on the AVX2 path and on TinyLlama.
cd /work/wt-quiet
Q=/work/artifacts/s11-quiet
stamp() { echo "== $1 $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg) commit $(git rev-parse --short HEAD)"; }
stamp start
stamp anchor-native
SKIP_BUILD=1 BUILD_DIR=/work/artifacts/llama.cpp BUNDLE=0 ISAS=native OUT=$Q/anchor-native \
  bench/llama-cpp/build-and-bench.sh /work/artifacts/llama.cpp-src > $Q/anchor-native.log 2>&1; echo "rc=$?"
stamp cold-start
BUILD_DIR=/work/artifacts/llama.cpp ROUNDS=5 OUT=$Q/cold-start bench/llama-cpp/cold-start.sh > $Q/cold-start.log 2>&1; echo "rc=$?"
stamp anchor-avx2
SKIP_BUILD=1 BUILD_DIR=/work/artifacts/llama.cpp BUNDLE=0 ISAS=avx2 REPS_TINYLLAMA_1_1B=1 OUT=$Q/anchor-avx2 \
  bench/llama-cpp/build-and-bench.sh /work/artifacts/llama.cpp-src > $Q/anchor-avx2.log 2>&1; echo "rc=$?"
stamp batch-avx2
ISA=avx2 LLAMA_BUILD=/work/artifacts/llama.cpp/avx2 ROUNDS=2 OUT=$Q/batch-avx2 bench/experiments/batch-decode.sh > $Q/batch-avx2.log 2>&1; echo "rc=$?"
stamp batch-tinyllama
LLAMA_BUILD=/work/artifacts/llama.cpp/native ROUNDS=2 BATCHES=1,16,64 OUT=$Q/batch-tinyllama bench/experiments/batch-decode.sh \
  /work/artifacts/models/tinyllama-1.1b-q8_0.gguf /work/artifacts/models/tinyllama-1.1b-f16.gguf > $Q/batch-tinyllama.log 2>&1; echo "rc=$?"
stamp end
