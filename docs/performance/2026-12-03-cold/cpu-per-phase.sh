#!/usr/bin/env bash
# A/B rounds of runtime settings: per-phase process CPU ms (the CPUMS line) of a build of tandem with
# instrumentation.diff applied (DLL=its tandem.dll), rotated order; T threads, ROUNDS rounds.
cd "$(dirname "$0")/../../.."
P="$(cat bench/llama-cpp/prompt-501.txt)"
T=${T:-1}; ROUNDS=${ROUNDS:-8}; DLL=${DLL:-artifacts/s11-cold/steps/tandem.dll}
read -r -a order <<< "${VARIANTS:-default tc0 qj0 qjfl0}"
for r in $(seq 1 $ROUNDS); do
  for v in "${order[@]}"; do
    case $v in default) e="X=1";; tc0) e="DOTNET_TieredCompilation=0";; qj0) e="DOTNET_TC_QuickJit=0";; qjfl0) e="DOTNET_TC_QuickJitForLoops=0";; pgo0) e="DOTNET_TieredPGO=0";; tc1) e="DOTNET_TieredCompilation=1";; qj1) e="DOTNET_TC_QuickJit=1";; esac
    out=$(env $e dotnet $DLL generate -m artifacts/models/smollm-135m-q8_0.gguf -p "$P" -n 128 -t $T --temperature 0 --ignore-eos 2>&1 >/dev/null)
    echo "$r $v load=$(cut -d' ' -f1 /proc/loadavg) $(echo "$out" | grep CPUMS) | $(echo "$out" | grep -o 'prefill: .*tok/s)' | sed 's/ tokens in /\//g')"
  done
  order=("${order[@]:1}" "${order[0]}")
done
