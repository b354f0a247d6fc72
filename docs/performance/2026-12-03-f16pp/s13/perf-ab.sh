#!/bin/bash
# perf shares, TinyLlama F16 pp512: $1 isa (avx512|avx2), $2 order e.g. "base now now base", $3 tag
cd /work/wt-f16pp
A=/work/artifacts/s13-f16pp
OUT=docs/performance/2026-12-03-f16pp/s13
isa=$1; tag=$3
[ $isa = avx2 ] && export DOTNET_EnableAVX512=0
export DOTNET_PerfMapEnabled=1 DOTNET_EnableWriteXorExecute=0
i=0
for v in $2; do i=$((i+1))
  X=$A/bench-$v/Tandem.Bench
  l0=$(cut -d' ' -f1-3 /proc/loadavg)
  perf record -q -F 499 -g -o $A/$isa-$v-$tag$i.perf.data $X engine artifacts/models/tinyllama-1.1b-f16.gguf --no-bundle --pp 512 --tg 1 --kv f16 --reps 2 --threads 2 > $OUT/engine-$isa-$v-$tag$i.txt 2>&1
  tot=$(perf report -i $A/$isa-$v-$tag$i.perf.data --no-children --sort sym --stdio -g none 2>/dev/null | grep "%" )
  f16=$(echo "$tot" | grep -E "F16RowTile|F16TiledMatMul|F16WidenedRows|TransposedReduce" | awk '{s+=$1} END {print s}')
  rt=$(echo "$tot" | grep -E "F16TiledMatMul::RowTiles" | awk '{s+=$1} END {print s}')
  echo "$isa $v ($tag$i): F16 tiled matmul $f16% of samples (RowTiles self $rt%); load before $l0 after $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "$tot" | head -30 | cut -c1-170 > $OUT/perf-$isa-$v-$tag$i-top.txt
done
