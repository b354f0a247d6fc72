#!/usr/bin/env python3
"""Each server process's and each replay process's speed level, from bench/experiments/server-step.sh outputs: for every
batch composition seen in at least MIN_RUNS runs, each run's server median and bench median over the median of all runs
of that composition (1.10: that process took 10% longer than the typical one for the same batch). A level shared by
all compositions of one process, and differing between processes, is a property of the process (or of the minutes it
ran in), not of the batch: a server ÷ bench ratio from one server process and one replay process carries both.

    python3 bench/experiments/server-step-process-levels.py DIR [DIR...] [--min-runs N]
"""
import glob
import json
import os
import statistics
import sys

args = [a for a in sys.argv[1:] if not a.startswith("--")]
min_runs = int(sys.argv[sys.argv.index("--min-runs") + 1]) if "--min-runs" in sys.argv else 5
if "--min-runs" in sys.argv:
    args.remove(sys.argv[sys.argv.index("--min-runs") + 1])
data = {}
for d in args:
    for f in sorted(glob.glob(os.path.join(d, "*.replay.json"))):
        replay = json.load(open(f))
        run = os.path.relpath(f, os.path.commonpath(args) if len(args) > 1 else d).replace(".replay.json", "")
        for inst in replay["instances"]:
            for b in inst["buckets"]:
                key = (inst["threads"], b["kind"], b["decode_seqs"], b["decode_ctx_per_seq"], b["prefill_chunks"], b["prefill_tokens"], b["prefill_ctx"])
                data.setdefault(key, {})[f"{run}:{inst['name']}"] = (b["server_forward_median_ms"], b["bench_forward_median_ms"])

for threads in sorted({k[0] for k in data}):
    keys = [k for k, v in data.items() if k[0] == threads and len(v) >= min_runs]
    if not keys:
        continue
    keys.sort(key=lambda k: -len(data[k]))
    runs = sorted({r for k in keys for r in data[k]})
    print(f"\n{threads} thread(s) per instance: server / bench, each over the median of its column's runs\n")
    print("| run | " + " | ".join(f"{k[1]} {k[2]}×{k[3]}" + (f" +{k[4]}×{k[5]}" if k[4] else "") for k in keys) + " |")
    print("|---|" + "---:|" * len(keys))
    for r in runs:
        cells = []
        for k in keys:
            if r not in data[k]:
                cells.append("")
                continue
            s, b = data[k][r]
            ms = statistics.median(v[0] for v in data[k].values())
            mb = statistics.median(v[1] for v in data[k].values())
            cells.append(f"{s / ms:.2f} / {b / mb:.2f}")
        print(f"| {r} | " + " | ".join(cells) + " |")
