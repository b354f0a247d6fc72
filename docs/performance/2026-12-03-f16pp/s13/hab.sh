#!/bin/bash
# harness A/B: $1 isa, $2 batches, $3 variants, $4 rounds, rest shapes RxC; variants in turn within each round
cd /work/artifacts/s13-f16pp
isa=$1; batches=$2; variants=$3; rounds=$4; shift 4
[ "$isa" = avx2 ] && export DOTNET_EnableAVX512=0
for shape in "$@"; do
  R=${shape%x*}; C=${shape#*x}
  for round in $(seq $rounds); do for v in $variants; do
    l0=$(cut -d' ' -f1 /proc/loadavg)
    echo "$isa ${R}x$C $v: $(dotnet $v/Tandem.Bench.dll $R $C $batches) load $l0"
  done; done
done
