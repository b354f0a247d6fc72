#!/bin/bash
# perf shares: base vs now; $1 isa, $2 tag
cd /work/wt-f16big
NOW=bench/Tandem.Bench/bin/Release/net10.0/Tandem.Bench
BASE=/tmp/f16big-base/bench/Tandem.Bench/bin/Release/net10.0/Tandem.Bench
OUT=docs/performance/2026-12-03-f16big
isa=$1
[ "$isa" = avx2 ] && export DOTNET_EnableAVX512=0
export DOTNET_PerfMapEnabled=1 DOTNET_EnableWriteXorExecute=0
for v in $2; do
  if [ $v = base ]; then X=$BASE; else X=$NOW; fi
  l0=$(cut -d' ' -f1-3 /proc/loadavg)
  perf record -q -F 499 -g -o artifacts/s11-f16big/$isa-$v.perf.data $X engine artifacts/models/tinyllama-1.1b-f16.gguf --no-bundle --pp 512 --tg 1 --kv f16 --reps 3 --threads 2 >/dev/null 2>&1
  tot=$(perf report -i artifacts/s11-f16big/$isa-$v.perf.data --no-children --sort sym --stdio -g none 2>/dev/null | grep "%" )
  f16=$(echo "$tot" | grep -E "F16RowTile|F16TiledMatMul|F16WidenedRows|TransposedReduce" | awk '{s+=$1} END {print s}')
  echo "$isa $v: F16 tiled matmul (RowTile passes, RowTiles, Widen, reductions) $f16% of samples; load before $l0"
  echo "$tot" | head -12 | cut -c1-150 > $OUT/perf-$isa-$v-top.txt
done
