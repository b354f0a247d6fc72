#!/bin/bash
# Session 14's quiet window: F16 rows of the anchor (5 rounds), batched decode at TinyLlama's shape with llama.cpp in
# the same rounds, and the goodput bisection of the Tandem modes not bisected before (disaggregated, colocated).
# PARTS (default "f16-native batch-tinyllama goodput") picks what runs; SHAPES passes through to the anchor.
cd /work/wt-quiet
Q=/work/artifacts/s14-quiet
PARTS=${PARTS:-f16-native batch-tinyllama goodput}
stamp() { echo "== $1 $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg) commit $(git rev-parse --short HEAD)"; }
stamp start
for part in $PARTS; do
  stamp $part
  case $part in
    f16-native) SKIP_BUILD=1 BUILD_DIR=/work/artifacts/llama.cpp BUNDLE=0 ISAS=native TYPES=f16 SHAPES=${SHAPES:-} OUT=$Q/anchor-f16-native \
      bench/llama-cpp/build-and-bench.sh /work/artifacts/llama.cpp-src > $Q/anchor-f16-native.log 2>&1 ;;
    f16-avx2) SKIP_BUILD=1 BUILD_DIR=/work/artifacts/llama.cpp BUNDLE=0 ISAS=avx2 TYPES=f16 SHAPES=${SHAPES:-} OUT=$Q/anchor-f16-avx2 \
      bench/llama-cpp/build-and-bench.sh /work/artifacts/llama.cpp-src > $Q/anchor-f16-avx2.log 2>&1 ;;
    batch-tinyllama) LLAMA_BUILD=/work/artifacts/llama.cpp/native ROUNDS=${BATCH_ROUNDS:-5} BATCHES=16,64 LLAMA_CFGS=${LLAMA_CFGS:-f16 on} OUT=$Q/batch-tinyllama \
      bench/experiments/batch-decode.sh /work/artifacts/models/tinyllama-1.1b-f16.gguf > $Q/batch-tinyllama.log 2>&1 ;;
    goodput) BUILD_DIR=/work/artifacts/llama.cpp SYSTEMS="disaggregated colocated" RATES=0.75 GOODPUT=1 \
      bench/experiments/vs-llama-server.sh $Q/goodput > $Q/goodput.log 2>&1 ;;
  esac
  echo "rc=$?"
done
stamp end
