#!/usr/bin/env bash
# A/B of s10-f16pp against main (357de8d): attention bench and engine F16 prefill (F16 KV), alternating order.
set -euo pipefail
cd /work/wt-f16pp
. bench/experiments/lib.sh
BASE=${BASE:-357de8d}; ROUNDS=${ROUNDS:-3}
OUT=${OUT:-artifacts/s10-f16pp/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
if [ -z "${SKIP_BUILD:-}" ]; then bench_base_and_now "$BASE"; else NOW=$OUT/now/Tandem.Bench.dll PRE=$OUT/base/Tandem.Bench.dll; fi
echo "$(date -u +%FT%TZ), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-), $(nproc) cores, load average $(loadavg)" | tee "$OUT/machine.txt"
MODEL=artifacts/models/smollm-135m-f16.gguf
for r in $(seq 1 "${AROUNDS:-$ROUNDS}"); do
  order="pre now"; [ $((r % 2)) = 0 ] && order="now pre"
  for who in $order; do
    dll=$NOW; [ "$who" = pre ] && dll=$PRE
    l0=$(loadavg)
    dotnet "$dll" attention --pp 512 > "$OUT/attention-$who-$r.txt"
    echo "attention r$r $who (load before $l0, after $(loadavg)): $(grep '| f16 | tiles' "$OUT/attention-$who-$r.txt")"
  done
done
for r in $(seq 1 "$ROUNDS"); do
  order="pre now"; [ $((r % 2)) = 0 ] && order="now pre"
  for who in $order; do
    dll=$NOW; [ "$who" = pre ] && dll=$PRE
    l0=$(loadavg)
    dotnet "$dll" engine "$MODEL" --threads 2 --pp 512 --tg ${TG:-1} --no-bundle --kv f16 --reps 3 --json "$OUT/engine-$who-$r.json" > "$OUT/engine-$who-$r.txt" 2>&1
    pp=$(python3 -c 'import json,sys; e=[x for x in json.load(open(sys.argv[1]))["results"] if x["engine"]=="tandem"][0]; print(max(e["prefill_tok_per_sec"]), e["prefill_tok_per_sec"])' "$OUT/engine-$who-$r.json")
    echo "engine r$r $who (load before $l0, after $(loadavg)): pp512 best, all: $pp"
  done
done
