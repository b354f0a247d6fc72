#!/bin/bash
# Session 13's quiet window: F16 rows of the anchor on both ISAs (5 rounds), then batched decode at TinyLlama's shape.
# PARTS (default "f16-native f16-avx2 batch-tinyllama") picks what runs.
cd /work/wt-quiet
Q=/work/artifacts/s13-quiet
PARTS=${PARTS:-f16-native f16-avx2 batch-tinyllama}
stamp() { echo "== $1 $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg) commit $(git rev-parse --short HEAD)"; }
stamp start
for part in $PARTS; do
  stamp $part
  case $part in
    f16-native) SKIP_BUILD=1 BUILD_DIR=/work/artifacts/llama.cpp BUNDLE=0 ISAS=native TYPES=f16 SHAPES=${SHAPES:-} OUT=$Q/anchor-f16-native \
      bench/llama-cpp/build-and-bench.sh /work/artifacts/llama.cpp-src > $Q/anchor-f16-native.log 2>&1 ;;
    f16-avx2) SKIP_BUILD=1 BUILD_DIR=/work/artifacts/llama.cpp BUNDLE=0 ISAS=avx2 TYPES=f16 SHAPES=${SHAPES:-} OUT=$Q/anchor-f16-avx2 \
      bench/llama-cpp/build-and-bench.sh /work/artifacts/llama.cpp-src > $Q/anchor-f16-avx2.log 2>&1 ;;
    all-native) SKIP_BUILD=1 BUILD_DIR=/work/artifacts/llama.cpp BUNDLE=0 ISAS=native OUT=$Q/anchor-native \
      bench/llama-cpp/build-and-bench.sh /work/artifacts/llama.cpp-src > $Q/anchor-native.log 2>&1 ;;
    batch-tinyllama) LLAMA_BUILD=/work/artifacts/llama.cpp/native ROUNDS=${BATCH_ROUNDS:-2} BATCHES=16,64 OUT=$Q/batch-tinyllama \
      bench/experiments/batch-decode.sh /work/artifacts/models/tinyllama-1.1b-f16.gguf > $Q/batch-tinyllama.log 2>&1 ;;
  esac
  echo "rc=$?"
done
stamp end
