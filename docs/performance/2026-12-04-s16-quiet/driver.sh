#!/bin/bash
# Session 16's quiet window (issue 9's last three points): batched TinyLlama F16 with Tandem's F16 KV beside its F32 KV
# and llama.cpp's F16 KV (flash attention on) in the same 3 rounds; TinyLlama F16's anchor row on AVX2 with 2 repetitions
# a round (5 rounds); the llama-server goodput comparison again with the weights in huge pages and llama-server also
# run with --poll 0; then batched TinyLlama (all three files) on the AVX2 path against llama.cpp's AVX2 build, both on
# F16 KV (never measured on AVX2 before; one repetition per run, for time); batch-f16-avx2-b16 ran F16 at B = 16 on AVX2
# for 4 more rounds of 2 repetitions, as its 3 rounds were a tie at the noise. goodput-fa (llama-server's goodput with F16 KV
# and flash attention on) was queued after it and cancelled for time: not run. PARTS picks what runs.
cd /work/wt-run
Q=/work/artifacts/s16
mkdir -p $Q
PARTS=${PARTS:-batch-kv anchor-avx2 goodput}
stamp() { echo "== $1 $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg) commit $(git rev-parse --short HEAD)"; }
stamp start
for part in $PARTS; do
  stamp $part
  case $part in
    batch-kv) BASE_KV=f32 KV=f16 LLAMA_BUILD=/work/artifacts/llama.cpp/native ROUNDS=3 BATCHES=16,64 LLAMA_CFGS="f16 on" OUT=$Q/batch-kv \
      bench/experiments/batch-decode.sh artifacts/models/tinyllama-1.1b-f16.gguf > $Q/batch-kv.log 2>&1 ;;
    anchor-avx2) SKIP_BUILD=1 BUILD_DIR=/work/artifacts/llama.cpp BUNDLE=0 ISAS=avx2 SHAPES=tinyllama-1.1b TYPES=f16 REPS_TINYLLAMA_1_1B=2 \
      OUT=$Q/anchor-avx2 bench/llama-cpp/build-and-bench.sh /work/artifacts/llama.cpp-src > $Q/anchor-avx2.log 2>&1 ;;
    batch-tinyllama-avx2)
      dotnet build src/Tandem.Cli -c Release -v q -nologo > /dev/null
      for t in q8_0 q4_k; do [ -f artifacts/models/tinyllama-1.1b-$t.gguf ] || dotnet src/Tandem.Cli/bin/Release/net10.0/tandem.dll model synth \
        --preset tinyllama-1.1b --type $t --vocab-from ../shared/models/vocab/ggml-vocab-llama-spm.gguf -o artifacts/models/tinyllama-1.1b-$t.gguf > /dev/null; done
      ISA=avx2 KV=f16 REPS=1 LLAMA_BUILD=/work/artifacts/llama.cpp/avx2 ROUNDS=3 BATCHES=16,64 LLAMA_CFGS="f16 on" OUT=$Q/batch-tinyllama-avx2 \
        bench/experiments/batch-decode.sh artifacts/models/tinyllama-1.1b-{f16,q8_0,q4_k}.gguf > $Q/batch-tinyllama-avx2.log 2>&1 ;;
    batch-f16-avx2-b16) ISA=avx2 KV=f16 REPS=2 LLAMA_BUILD=/work/artifacts/llama.cpp/avx2 ROUNDS=4 BATCHES=16 LLAMA_CFGS="f16 on" \
      OUT=$Q/batch-f16-avx2-b16 bench/experiments/batch-decode.sh artifacts/models/tinyllama-1.1b-f16.gguf > $Q/batch-f16-avx2-b16.log 2>&1 ;;
    goodput-fa) BUILD_DIR=/work/artifacts/llama.cpp SYSTEMS="llama-server-fa" RATES=0.75 GOODPUT=1 \
      bench/experiments/vs-llama-server.sh $Q/goodput-fa > $Q/goodput-fa.log 2>&1 ;;
    goodput) BUILD_DIR=/work/artifacts/llama.cpp SYSTEMS="llama-server llama-server-nopoll chunked" RATES=0.75 GOODPUT=1 \
      bench/experiments/vs-llama-server.sh $Q/goodput > $Q/goodput.log 2>&1 ;;
  esac
  echo "rc=$?"
done
stamp end
