#!/usr/bin/env bash
# Kernel A/B: builds A and B (Tandem.Bench output folders), alternating order per round, one line per run:
#   kab.sh OUTDIR ROUNDS BATCH "A=dirA B=dirB" "RxC RxC ..."   (ENV_A / ENV_B: extra environment for each side)
set -euo pipefail
out=$1 rounds=$2 batch=$3 builds=($4) shapes=($5)
mkdir -p "$out"
for r in $(seq 1 "$rounds"); do
  order=("${builds[@]}"); [ $((r % 2)) -eq 0 ] && order=($(printf '%s\n' "${builds[@]}" | tac))
  for s in "${shapes[@]}"; do
    R=${s%x*} C=${s#*x}
    for b in "${order[@]}"; do
      name=${b%%=*} dir=${b#*=}
      envv=ENV_$name
      line=$(env ${!envv:-} dotnet "$dir/Tandem.Bench.dll" kernels --rows "$R" --cols "$C" --batch "$batch" --types f16 \
        --json "$out/$name-$s-n$batch-r$r.json" | grep 'tiled')
      echo "round $r $s n=$batch $name $(echo "$line" | awk -F'|' '{s=""; for (i = 4; i < NF; i++) s = s $i; print s}') load $(cut -d' ' -f1 /proc/loadavg)"
    done
  done
done
