#!/usr/bin/env bash
# Issue 13, the RAM -> disk KV tier: is reading a KV block back from disk cheaper than recomputing it? For each model
# shape (SmolLM-135M, TinyLlama-1.1B; synthesized when missing) and KV type, starts `tandem serve --kv-disk-dir` with
# --kv-disk-policy auto, whose start-up measures a cold read of one block (written, synced, dropped from the page cache
# with posix_fadvise DONTNEED, read back) against a forward pass over one block of tokens on one core, and prints both
# on its "KV disk tier:" line. As a cross-check independent of Tandem, it then writes block-sized files, drops the
# whole page cache (`sync; echo 3 > /proc/sys/vm/drop_caches`, root only; skipped otherwise) and times reading each.
# Writes results.md (the table of docs/experiments/prefix-caching.md) and the raw lines to $OUT.
#
#   bench/experiments/kv-disk-cost.sh [OUT_DIR]
#
# Knobs (environment): MODELS (GGUF paths), KV_TYPES, REPEATS (server starts per model and type), DISK_DIR (a directory on
# the disk to measure; default $OUT/disk), FILES (files in the drop_caches cross-check), PORT.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-artifacts/s5-kvdisk/kv-disk-cost}
MODELS=${MODELS:-artifacts/models/smollm-135m-q8_0.gguf artifacts/s5-kvdisk/tinyllama-1.1b-q8_0.gguf}
KV_TYPES=${KV_TYPES:-f16 f32}
REPEATS=${REPEATS:-3}
DISK_DIR=${DISK_DIR:-$OUT/disk}
FILES=${FILES:-16}
PORT=${PORT:-8141}
mkdir -p "$OUT" "$DISK_DIR"

. bench/experiments/lib.sh
tandem_build
for m in $MODELS; do # artifacts/.../<preset>-<type>.gguf
  name=$(basename "$m" .gguf)
  ensure_model "$m" "${name%-*}" "${name##*-}"
done

: > "$OUT/lines.txt"
for m in $MODELS; do
  for kv in $KV_TYPES; do
    for r in $(seq 1 "$REPEATS"); do
      dir="$DISK_DIR/$(basename "$m" .gguf)-$kv"
      rm -rf "$dir"
      log="$OUT/$(basename "$m" .gguf)-$kv-$r.log"
      load=$(loadavg)
      start_server "$log" $TANDEM serve --model "$m" --port "$PORT" --mode colocated --cores-per-instance 1 --kv-type "$kv" \
        --kv-memory 64MiB --kv-disk-dir "$dir" --kv-disk-policy auto
      wait_ready "http://127.0.0.1:$PORT" "$(basename "$m") $kv"
      stop_servers
      line=$(grep "KV disk tier:" "$log" || echo "KV disk tier: (server did not start, see $log)")
      echo "$(basename "$m" .gguf) | $kv | $r | load $load | $line" | tee -a "$OUT/lines.txt"
    done
  done
done

python3 - "$OUT" "$DISK_DIR" "$FILES" <<'PY' | tee "$OUT/results.md"
import os, re, statistics, subprocess, sys, time
out, disk, files = sys.argv[1], sys.argv[2], int(sys.argv[3])
rows = {}
for line in open(os.path.join(out, "lines.txt")):
    model, kv, _, load, rest = [p.strip() for p in line.split("|", 4)]
    m = re.search(r"([0-9.]+) (KiB|MiB) a block\).*?(cold|warm).*?read of a block ([0-9.]+) ms against recomputing it ([0-9.]+) ms", rest)
    if not m:
        continue
    size = float(m.group(1)) * (1024 if m.group(2) == "KiB" else 1 << 20)
    r = rows.setdefault((model, kv), {"bytes": int(size), "read": [], "recompute": [], "load": [], "cold": m.group(3)})
    r["read"].append(float(m.group(4))); r["recompute"].append(float(m.group(5))); r["load"].append(load.replace("load ", "").split()[0])

def drop_caches():
    try:
        subprocess.run(["sync"], check=True)
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        return True
    except OSError:
        return False

print("| model | KV | block | cold read, fadvise (ms, median) | cold read, drop_caches (ms, median) | recompute on 1 core (ms, median) | recompute / read | load avg |")
print("|---|---|---|---|---|---|---|---|")
for (model, kv), r in rows.items():
    probe = os.path.join(disk, "probe")
    os.makedirs(probe, exist_ok=True)
    paths = [os.path.join(probe, f"{i}.bin") for i in range(files)]
    for p in paths:
        with open(p, "wb") as f:
            f.write(os.urandom(r["bytes"]))
    dropped = drop_caches()
    times = []
    for p in paths:
        t = time.perf_counter()
        with open(p, "rb", buffering=0) as f:
            while f.read(1 << 20):
                pass
        times.append((time.perf_counter() - t) * 1e3)
    for p in paths:
        os.remove(p)
    read, rec = statistics.median(r["read"]), statistics.median(r["recompute"])
    dc = f"{statistics.median(times):.3f}" if dropped else "n/a (not root)"
    print(f"| {model} | {kv} | {r['bytes'] / 1024:.0f} KiB | {read:.3f} ({r['cold']}) | {dc} | {rec:.1f} | {rec / read:.0f}x | {', '.join(r['load'])} |")
PY
