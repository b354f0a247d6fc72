#!/usr/bin/env bash
# F16 prefill (issue 9): the tiled F16 matmul before and after a change, as docs/performance.md reports it:
#  1. `Tandem.Bench kernels --types f16,q8_0` (one thread, thread CPU time, ns per 32 products; Q8_0 as the yardstick)
#     from a build of BASE and of this tree, in A/B rounds whose order alternates, on .NET's AVX-512 path and on its
#     AVX2 path (DOTNET_EnableAVX512=0) where the machine has AVX-512;
#  2. the engine in A/B rounds: `Tandem.Bench engine MODEL --no-bundle --kv f32` (prefill of 512 tokens), each run the
#     best of its repetitions; prints every run and the per-round prefill ratios (now / base).
#
#   bench/experiments/f16-prefill.sh [MODEL.gguf]     (default artifacts/models/smollm-135m-f16.gguf)
#
# Knobs (environment): BASE (a commit, default bf32dcb: main before the change), ROUNDS 2 (kernels) / ENGINE_ROUNDS 3,
# REPS 3, TG 16, THREADS 2, ISAS "avx512 avx2", OUT (default artifacts/s7-f16pp/<UTC date-time>: every run's output
# and JSON). A base whose bench has no --types runs every type; only the F16 and Q8_0 rows are compared.
set -euo pipefail
case ${1:-} in -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;; esac
cd "$(dirname "$0")/../.."
. bench/experiments/lib.sh
MODEL=${1:-artifacts/models/smollm-135m-f16.gguf}
BASE=${BASE:-bf32dcb}; ROUNDS=${ROUNDS:-2}; ENGINE_ROUNDS=${ENGINE_ROUNDS:-3}; REPS=${REPS:-3}; TG=${TG:-16}
THREADS=${THREADS:-2}; ISAS=${ISAS:-avx512 avx2}
OUT=${OUT:-artifacts/s7-f16pp/$(date -u +%Y%m%dT%H%M%SZ)}
[ -f "$MODEL" ] || { echo "error: $MODEL: no such file" >&2; exit 1; }
bench_base_and_now "$BASE"
PRE_TYPES=(); grep -q -- '--types' "$OUT/base-src/bench/Tandem.Bench/Program.cs" && PRE_TYPES=(--types f16,q8_0)
echo "$(date -u +%FT%TZ), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-), $(nproc) cores, load average $(loadavg)"

f16_rows() { # kernels table -> its F16 and Q8_0 tiled rows
  grep -E '^\| (F16|Q8_0) \| tiled' "$1" || true
}
for isa in $ISAS; do
  env=(); [ "$isa" = avx2 ] && env=(DOTNET_EnableAVX512=0)
  [ "$isa" = avx512 ] && ! grep -q avx512f /proc/cpuinfo && continue
  for r in $(seq 1 "$ROUNDS"); do
    order="pre now"; [ $((r % 2)) = 0 ] && order="now pre"
    for who in $order; do
      if [ "$who" = pre ]; then dll=$PRE; types=("${PRE_TYPES[@]}"); else dll=$NOW; types=(--types f16,q8_0); fi
      env "${env[@]}" dotnet "$dll" kernels "${types[@]}" --json "$OUT/kernels-$isa-$who-$r.json" > "$OUT/kernels-$isa-$who-$r.txt"
      echo "kernels $isa round $r $who ($(head -1 "$OUT/kernels-$isa-$who-$r.txt" | sed 's/.*load average/load average/'); $(tail -1 "$OUT/kernels-$isa-$who-$r.txt")):"
      f16_rows "$OUT/kernels-$isa-$who-$r.txt"
    done
  done
done

rates() { # json -> "prefill decode" (best repetition)
  python3 -c 'import json,sys; e=[x for x in json.load(open(sys.argv[1]))["results"] if x["engine"]=="tandem"][0]; print(max(e["prefill_tok_per_sec"]), max(e["decode_tok_per_sec"]))' "$1"
}
: > "$OUT/ratios-engine.txt"
for r in $(seq 1 "$ENGINE_ROUNDS"); do
  order="pre now"; [ $((r % 2)) = 0 ] && order="now pre"
  for who in $order; do
    dll=$NOW; [ "$who" = pre ] && dll=$PRE
    load=$(loadavg)
    dotnet "$dll" engine "$MODEL" --no-bundle --kv f32 --threads "$THREADS" --reps "$REPS" --tg "$TG" \
      --json "$OUT/engine-$who-$r.json" > "$OUT/engine-$who-$r.txt"
    echo "engine round $r $who: pp512/tg$TG $(rates "$OUT/engine-$who-$r.json") (load average before: $load, after: $(loadavg))"
  done
  read -r pp _ <<<"$(rates "$OUT/engine-now-$r.json")"; read -r bpp _ <<<"$(rates "$OUT/engine-pre-$r.json")"
  echo "$pp $bpp" | awk '{printf "%.3f\n", $1/$2}' >> "$OUT/ratios-engine.txt"
done
echo "engine: median prefill ratio now/base $(median < "$OUT/ratios-engine.txt") over $ENGINE_ROUNDS rounds (per round: $(tr '\n' ';' < "$OUT/ratios-engine.txt"))"
