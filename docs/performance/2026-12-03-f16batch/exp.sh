#!/bin/bash
R=$1 C=$2 B=$3 N=${4:-2}
for i in $(seq $N); do for e in 0 1; do
 printf "exp%s %sx%s " $e $R $C
 (cd /work/wt-f16batch && TANDEM_EXP=$e dotnet bench/Tandem.Bench/bin/Release/net10.0/Tandem.Bench.dll kernels --rows $R --cols $C --batch $B --types f16 2>&1 | grep -E "tiled" | tr -d '\n')
 echo "  load $(cut -d' ' -f1 /proc/loadavg)"
done; done
