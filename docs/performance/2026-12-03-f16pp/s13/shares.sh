#!/bin/bash
# absolute samples per part of a perf.data: F16 tiled matmul, attention, the rest ($@ files)
for f in "$@"; do
  perf report -i $f --no-children --sort sym --stdio -g none -F overhead,sample,sym 2>/dev/null | grep "%" > /tmp/s13-rep.txt
  awk -v f=$(basename $f .perf.data) '
    { s=$2; tot+=s }
    /F16RowTile|F16TiledMatMul|F16WidenedRows|TransposedReduce/ { mm+=s }
    /F16AttentionTiles|ScaledDots|WeightedRowSum|GgmlExp::ExpSubtractSum|ConvertTruncating|Softmax/ { at+=s }
    /F16TiledMatMul::RowTiles/ { rt+=s }
    /F16WidenedRows::Widen/ { wd+=s }
    END { printf "%s: samples %d, F16 tiled matmul %d (RowTiles %d, Widen %d), attention %d, rest %d\n", f, tot, mm, rt, wd, at, tot-mm-at }' /tmp/s13-rep.txt
done
