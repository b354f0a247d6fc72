#!/bin/bash
# kernel A/B: $1 = now dir name, $2 = isa (avx2|avx512), $3 = batches, rest = shapes RxC
cd /work/wt-f16avx2
now=$1; isa=$2; batches=$3; shift 3
[ "$isa" = avx2 ] && export DOTNET_EnableAVX512=0
for shape in "$@"; do
  R=${shape%x*}; C=${shape#*x}
  for v in base $now base $now; do
    out=$(artifacts/s12-f16avx2/$v/Tandem.Bench kernels --types f16 --rows $R --cols $C --batch $batches 2>&1)
    echo "$isa $R x $C $v: $(echo "$out" | grep 'tiled' | cut -d'|' -f4-) load $(echo "$out" | grep -o 'load average [0-9. ]*' | head -1 | cut -d' ' -f3-4) -> $(echo "$out" | grep -o 'at the end [0-9.]*' | cut -d' ' -f4)"
  done
done
