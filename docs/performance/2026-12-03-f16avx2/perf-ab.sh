#!/bin/bash
# perf shares on the AVX2 path, TinyLlama F16 pp512: base vs now (order in $1, e.g. "base now")
cd /work/wt-f16avx2
NOW=artifacts/s12-f16avx2/${NOWDIR:-now6}/Tandem.Bench
BASE=artifacts/s12-f16avx2/base/Tandem.Bench
OUT=docs/performance/2026-12-03-f16avx2
export DOTNET_EnableAVX512=0 DOTNET_PerfMapEnabled=1 DOTNET_EnableWriteXorExecute=0
for v in $1; do
  if [ $v = base ]; then X=$BASE; else X=$NOW; fi
  l0=$(cut -d' ' -f1-3 /proc/loadavg)
  perf record -q -F 499 -g -o artifacts/s12-f16avx2/avx2-$v.perf.data $X engine artifacts/models/tinyllama-1.1b-f16.gguf --no-bundle --pp 512 --tg 1 --kv f16 --reps 2 --threads 2 >/dev/null 2>&1
  tot=$(perf report -i artifacts/s12-f16avx2/avx2-$v.perf.data --no-children --sort sym --stdio -g none 2>/dev/null | grep "%" )
  f16=$(echo "$tot" | grep -E "F16RowTile|F16TiledMatMul|F16WidenedRows|TransposedReduce" | awk '{s+=$1} END {print s}')
  echo "avx2 $v: F16 tiled matmul (RowTile passes and blocks, RowTiles, Widen, reductions) $f16% of samples; load before $l0 after $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "$tot" | head -14 | cut -c1-150 > $OUT/perf-avx2-$v-top.txt
done
