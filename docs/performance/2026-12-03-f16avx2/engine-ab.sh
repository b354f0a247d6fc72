#!/bin/bash
# engine A/B on the AVX2 path: base (main's build) vs now, alternating; rounds in $1
cd /work/wt-f16avx2
NOW=artifacts/s12-f16avx2/${NOWDIR:-now6}/Tandem.Bench
BASE=artifacts/s12-f16avx2/base/Tandem.Bench
OUT=docs/performance/2026-12-03-f16avx2
rounds=${1:-2}
export DOTNET_EnableAVX512=0
for r in $(seq 1 $rounds); do
  if [ $((r % 2)) = 1 ]; then order="base now"; else order="now base"; fi
  for v in $order; do
    if [ $v = base ]; then X=$BASE; else X=$NOW; fi
    l0=$(cut -d' ' -f1-3 /proc/loadavg)
    rate=$($X engine artifacts/models/tinyllama-1.1b-f16.gguf --no-bundle --pp 512 --tg 1 --kv f16 --reps 2 --threads 2 --json $OUT/engine-${SET:-}avx2-$v-r$r.json 2>&1 | grep "tinyllama" | cut -d'|' -f3)
    echo "avx2 round $r $v pp512 $rate tok/s  load before $l0  after $(cut -d' ' -f1-3 /proc/loadavg)"
  done
done
