#!/usr/bin/env bash
# Same binary, TANDEM_F16_GEMV_ROWS=2 (base) against 4 (new), AVX-512 kernel bench, alternating. Ran on a scratch
# build whose F16GemvAvx512.Kernel read its rows per call from that variable (not committed: the committed kernel
# picks four rows up to 1024 columns, two above).
B=$(ls -d /work/wt-decode/bench/Tandem.Bench/bin/Release/net*)/Tandem.Bench
for r in $(seq 1 ${ROUNDS:-4}); do
  if (( r % 2 )); then order="2 4"; else order="4 2"; fi
  for shape in ${SHAPES:-576x576 1536x576 576x1536 49152x576 2048x2048 32000x2048}; do for rows in $order; do
    out=$(TANDEM_F16_GEMV_ROWS=$rows $B kernels --rows ${shape%x*} --cols ${shape#*x} --batch 1 --types f16 2>&1)
    ns=$(grep "tiled, ggml width" <<<"$out" | awk -F'|' '{gsub(/ /,"",$4); print $4}')
    [[ $rows == 2 ]] && side=base || side=new
    echo "$(date -u +%H:%M:%S) load=$(cut -d' ' -f1 /proc/loadavg) round=$r side=$side isa=avx512-rows$rows shape=$shape ns=$ns"
  done; done
done
