#!/usr/bin/env bash
# Engine A/B inside one build: TANDEM_F16_CHAINWISE modes (0 main's path, 1 chain-wise for every 8-32 token batch, 2 the
# kept rule), order rotating per round; TinyLlama F16, B = 16, 128-token contexts, F32 KV, 2 threads.
#   engine-toggle.sh BUILD_DIR OUT ROUNDS STEPS "MODES"
set -euo pipefail
b=$1 out=$2 rounds=$3 steps=$4 modes=($5)
mkdir -p "$out"
for r in $(seq 1 "$rounds"); do
  order=("${modes[@]}"); [ $((r % 2)) -eq 0 ] && order=($(printf '%s\n' "${modes[@]}" | tac))
  for v in "${order[@]}"; do
    l0=$(cut -d' ' -f1 /proc/loadavg)
    rate=$(TANDEM_F16_CHAINWISE=$v dotnet "$b/Tandem.Bench.dll" batch /work/artifacts/models/tinyllama-1.1b-f16.gguf --no-bundle --threads 2 \
      --batch 16 --ctx 128 --steps "$steps" --reps 1 --json "$out/mode$v-r$r.json" | awk -F'|' '/^\| 16 /{print $3}')
    echo "round $r mode=$v B=16 tok/s $rate load $l0 -> $(cut -d' ' -f1 /proc/loadavg)"
  done
done
