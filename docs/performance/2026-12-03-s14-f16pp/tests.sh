#!/bin/bash
# the affected test classes on AVX-512, AVX2 and Vector128 (s13-f16pp's list); run from the worktree
F="FullyQualifiedName~MatMulBatchTests|FullyQualifiedName~BatchedForwardTests|FullyQualifiedName~F16WidenedRowsTests|FullyQualifiedName~LlamaCppAgreementTests|FullyQualifiedName~GoldenGreedyTests|FullyQualifiedName~MatMulOneTokenTests|FullyQualifiedName~Attention"
for isa in avx512 avx2 vector128; do
  case $isa in avx2) export DOTNET_EnableAVX512=0;; vector128) export DOTNET_EnableAVX2=0;; esac
  echo "== $isa $(date -u +%H:%M) load $(cut -d' ' -f1-3 /proc/loadavg)"; timeout 1500 nice dotnet test tests/Tandem.Engine.Tests -c Release --no-build --filter "$F" 2>&1 | grep -E "Passed!|Failed|error" | head -20
done
