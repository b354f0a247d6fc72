#!/bin/bash
# engine A/B: base (main) vs now, alternating; ISA in $1 (avx512|avx2), rounds in $2
cd /work/wt-f16big
NOW=bench/Tandem.Bench/bin/Release/net10.0/Tandem.Bench
BASE=/tmp/f16big-base/bench/Tandem.Bench/bin/Release/net10.0/Tandem.Bench
OUT=${OUT:-docs/performance/2026-12-03-f16big}
isa=$1; rounds=${2:-2}
[ "$isa" = avx2 ] && export DOTNET_EnableAVX512=0
for r in $(seq 1 $rounds); do
  if [ $((r % 2)) = 1 ]; then order="base now"; else order="now base"; fi
  for v in $order; do
    if [ $v = base ]; then X=$BASE; else X=$NOW; fi
    l0=$(cut -d' ' -f1-3 /proc/loadavg)
    rate=$($X engine artifacts/models/tinyllama-1.1b-f16.gguf --no-bundle --pp 512 --tg 1 --kv f16 --reps 2 --threads 2 --json $OUT/engine-$isa-$v-r$r.json 2>&1 | grep "tinyllama" | cut -d'|' -f3)
    echo "$isa round $r $v pp512 $rate tok/s  load before $l0  after $(cut -d' ' -f1-3 /proc/loadavg)"
  done
done
