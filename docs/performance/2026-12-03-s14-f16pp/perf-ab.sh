#!/bin/bash
# perf profile of TinyLlama F16 pp512 x2 at 2 threads, builds in /tmp/s14pp/eng-<v>; $1 order e.g. "base new new base", $2 tag
cd /work/wt-s14-f16pp
OUT=docs/performance/2026-12-03-s14-f16pp
export DOTNET_PerfMapEnabled=1 DOTNET_EnableWriteXorExecute=0
i=0
for v in $1; do i=$((i+1))
  l0=$(cut -d' ' -f1-3 /proc/loadavg)
  perf record -q -F 499 -g -o /tmp/s14pp/perf/$v-$2$i.data /tmp/s14pp/eng-$v/Tandem.Bench engine artifacts/models/${MODEL:-tinyllama-1.1b-f16}.gguf --no-bundle --pp 512 --tg 1 --kv f16 --reps 2 --threads 2 > $OUT/engine-$v-$2$i.txt 2>&1
  perf report -i /tmp/s14pp/perf/$v-$2$i.data --no-children --sort sym --stdio -g none -F overhead,sample,sym 2>/dev/null | grep "%" > /tmp/s14pp/rep.txt
  head -40 /tmp/s14pp/rep.txt | cut -c1-200 > $OUT/perf-$v-$2$i-top.txt
  awk -v f=$v-$2$i -v l0="$l0" -v l1="$(cut -d' ' -f1-3 /proc/loadavg)" '
    { s=$2; tot+=s }
    /F16RowTileAvx512::Pass/ { pass+=s }
    /F16RowTile|F16TiledMatMul|F16WidenedRows|TransposedReduce/ { mm+=s }
    /F16ActivationPanel::Write|ConvertTruncating|WidenHalfAsInt16ToSingle/ { pf+=s }
    /F16AttentionTiles|ScaledDots|WeightedRowSum|GgmlExp::ExpSubtractSum|Softmax/ { at+=s }
    /F16Gemv/ { gv+=s }
    END { printf "%s: samples %d; F16 tiled matmul %d (%.1f%%; Pass %.1f%%), panel fill %d (%.2f%%), attention %d (%.1f%%), gemv (tg1, warm-up) %d (%.1f%%); load %s -> %s\n", f, tot, mm, 100*mm/tot, 100*pass/tot, pf, 100*pf/tot, at, 100*at/tot, gv, 100*gv/tot, l0, l1 }' /tmp/s14pp/rep.txt
done
