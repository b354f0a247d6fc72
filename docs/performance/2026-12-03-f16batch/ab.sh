#!/bin/bash
# A/B of the F16 kernel, main vs branch alternating: ab.sh ROWS COLS BATCHES ROUNDS
R=$1 C=$2 B=$3 N=${4:-2}
for i in $(seq $N); do
  for side in main branch; do
    if [ $side = main ]; then d=/work/wt-f16batch/artifacts/s13-f16batch/main-src; else d=/work/wt-f16batch; fi
    printf "%s %sx%s " $side $R $C
    (cd $d && dotnet bench/Tandem.Bench/bin/Release/net10.0/Tandem.Bench.dll kernels --rows $R --cols $C --batch $B --types f16 2>&1 | grep -E "tiled" | tr -d '\n')
    echo "  load $(cut -d' ' -f1 /proc/loadavg)"
  done
done
