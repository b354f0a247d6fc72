#!/usr/bin/env bash
# Batched decode A/B, TinyLlama F16: main (b-tiles, built from 911f0c3) vs branch (b-final), alternating order per round
D=artifacts/s12-f16few; OUT=$D/batch-$1; mkdir -p $OUT
for r in $(seq 1 ${ROUNDS:-2}); do
  order="b-tiles b-final"; [ $((r % 2)) -eq 0 ] && order="b-final b-tiles"
  for b in $order; do
    echo "round $r: $b (load $(cut -d' ' -f1-3 /proc/loadavg)) $(date -u +%T)"
    dotnet $D/$b/Tandem.Bench.dll batch artifacts/models/tinyllama-1.1b-f16.gguf --no-bundle --threads 2 --batch ${BATCHES:-4,8,16} \
      --ctx 128 --steps ${STEPS:-16} --reps 2 --kv f32 --json $OUT/$b-round$r.json > $OUT/$b-round$r.txt 2>&1
  done
done
echo "end $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
