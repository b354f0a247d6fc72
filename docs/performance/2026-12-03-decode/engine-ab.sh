#!/usr/bin/env bash
# Engine decode A/B, base build against this branch's, alternating which goes first each round:
# Tandem.Bench engine FILE --threads 2 --pp 16 --tg 128 --tg-from-empty --kv f16 --no-bundle, AVX-512 and AVX2 paths.
#   BASE=<base checkout, built> NEW=<branch checkout, built> OUT=<dir> ROUNDS=6 engine-ab.sh
set -euo pipefail
ROUNDS=${ROUNDS:-6}
CASES=${CASES:-"avx512:smollm-135m-f16:2 avx2:smollm-135m-f16:2 avx512:smollm-135m-q8_0:2 avx512:tinyllama-1.1b-f16:1"}
mkdir -p "$OUT"
bin() { ls -d "$1"/bench/Tandem.Bench/bin/Release/net*/Tandem.Bench; }
for r in $(seq 1 "$ROUNDS"); do
  if (( r % 2 )); then order="base new"; else order="new base"; fi
  for c in $CASES; do
    IFS=: read -r isa model reps <<<"$c"
    for side in $order; do
      [[ $side == base ]] && dir=$BASE || dir=$NEW
      [[ $isa == avx2 ]] && env="DOTNET_EnableAVX512=0" || env="DOTNET_EnableAVX512=1"
      json="$OUT/r$r-$side-$isa-$model.json"
      line=$(env $env "$(bin "$dir")" engine "$NEW/artifacts/models/$model.gguf" --threads 2 --pp 16 --tg 128 --tg-from-empty \
        --kv f16 --no-bundle --reps "$reps" --json "$json" 2>&1 | grep "^| $model")
      tg=$(awk -F'|' '{gsub(/ /,"",$6); print $6}' <<<"$line"); lim=$(awk -F'|' '{gsub(/ /,"",$9); print $9}' <<<"$line")
      echo "$(date -u +%H:%M:%S) load=$(cut -d' ' -f1 /proc/loadavg) round=$r side=$side isa=$isa model=$model tg=$tg limit=$lim"
    done
  done
done
