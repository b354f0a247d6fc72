#!/usr/bin/env bash
# A/B of the F16 one-token kernel (Tandem.Bench kernels --batch 1: one thread, thread CPU time, ns per 32 products),
# base build against this branch's, alternating which goes first each round. Usage:
#   BASE=<dir of a base checkout, built> NEW=<dir of this branch, built> ROUNDS=4 kernel-ab.sh > log
set -euo pipefail
ROUNDS=${ROUNDS:-4}
SHAPES=${SHAPES:-"576x576 1536x576 576x1536 49152x576 2048x2048"}
bin() { ls -d "$1"/bench/Tandem.Bench/bin/Release/net*/Tandem.Bench; }
run() { # side isa shape
  local side=$1 isa=$2 shape=$3 dir env
  [[ $side == base ]] && dir=$BASE || dir=$NEW
  [[ $isa == avx2 ]] && env="DOTNET_EnableAVX512=0" || env=""
  local out; out=$(env $env "$(bin "$dir")" kernels --rows "${shape%x*}" --cols "${shape#*x}" --batch 1 --types f16 2>&1)
  local ns; ns=$(grep "tiled, ggml width" <<<"$out" | awk -F'|' '{gsub(/ /,"",$4); print $4}')
  local ctl; ctl=$(grep "four-token dot" <<<"$out" | awk -F'|' '{gsub(/ /,"",$4); print $4}')
  echo "$(date -u +%H:%M:%S) load=$(cut -d' ' -f1 /proc/loadavg) round=$r side=$side isa=$isa shape=$shape ns=$ns control=$ctl"
}
for r in $(seq 1 "$ROUNDS"); do
  if (( r % 2 )); then order="base new"; else order="new base"; fi
  for isa in avx2 avx512; do for shape in $SHAPES; do for side in $order; do run $side $isa $shape; done; done; done
done
