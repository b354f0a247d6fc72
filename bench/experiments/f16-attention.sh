#!/usr/bin/env bash
# Attention over an F16 KV cache (issue 9), before and after the tiled kernel, as docs/performance.md reports it:
#  1. `Tandem.Bench attention`: one layer of attention alone, one thread, thread CPU time, F32 and F16 caches, with
#     the per-query F16 kernel that the tiles replaced timed in the same process ("before");
#  2. the engine in A/B rounds against a build of BASE (default 5f82ced, main before the tiles): `Tandem.Bench
#     engine MODEL --no-bundle --kv f16` and `--kv f32`, alternating the order every round, each run the best of its
#     repetitions; prints every run and the per-round ratios (now / base).
#
#   bench/experiments/f16-attention.sh [MODEL.gguf]     (default artifacts/models/smollm-135m-q8_0.gguf)
#
# Knobs (environment): BASE (a commit), ROUNDS 3, REPS 3, TG 64, KVS "f16 f32", THREADS 2,
# OUT (default artifacts/s6-attn/<UTC date-time>: every run's output and JSON).
set -euo pipefail
case ${1:-} in -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;; esac
cd "$(dirname "$0")/../.."
. bench/experiments/lib.sh
MODEL=${1:-artifacts/models/smollm-135m-q8_0.gguf}
BASE=${BASE:-5f82ced}; ROUNDS=${ROUNDS:-3}; REPS=${REPS:-3}; TG=${TG:-64}; KVS=${KVS:-f16 f32}; THREADS=${THREADS:-2}
OUT=${OUT:-artifacts/s6-attn/$(date -u +%Y%m%dT%H%M%SZ)}
[ -f "$MODEL" ] || { echo "error: $MODEL: no such file" >&2; exit 1; }
bench_base_and_now "$BASE"
echo "$(date -u +%FT%TZ), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-), $(nproc) cores, load average $(loadavg)"

dotnet "$NOW" attention | tee "$OUT/attention.txt"

rates() { # json -> "prefill decode" (best repetition)
  python3 -c 'import json,sys; e=[x for x in json.load(open(sys.argv[1]))["results"] if x["engine"]=="tandem"][0]; print(max(e["prefill_tok_per_sec"]), max(e["decode_tok_per_sec"]))' "$1"
}
for kv in $KVS; do
  : > "$OUT/ratios-$kv.txt"
  for r in $(seq 1 "$ROUNDS"); do
    order="pre now"; [ $((r % 2)) = 0 ] && order="now pre"
    for who in $order; do
      dll=$NOW; [ "$who" = pre ] && dll=$PRE
      load=$(loadavg)
      dotnet "$dll" engine "$MODEL" --no-bundle --kv "$kv" --threads "$THREADS" --reps "$REPS" --tg "$TG" \
        --json "$OUT/engine-$kv-$who-$r.json" > "$OUT/engine-$kv-$who-$r.txt"
      echo "round $r $who kv $kv: pp/tg $(rates "$OUT/engine-$kv-$who-$r.json") (load average before: $load, after: $(loadavg))"
    done
    read -r pp tg <<<"$(rates "$OUT/engine-$kv-now-$r.json")"; read -r bpp btg <<<"$(rates "$OUT/engine-$kv-pre-$r.json")"
    echo "$pp $bpp $tg $btg" | awk '{printf "%.3f %.3f\n", $1/$2, $3/$4}' >> "$OUT/ratios-$kv.txt"
  done
  echo "kv $kv: median ratio now/base prefill $(cut -d' ' -f1 "$OUT/ratios-$kv.txt" | median), decode $(cut -d' ' -f2 "$OUT/ratios-$kv.txt" | median) over $ROUNDS rounds (per round: $(tr '\n' ';' < "$OUT/ratios-$kv.txt"))"
done
