#!/usr/bin/env python3
"""Summary of bench/experiments/gemv-kernels.sh's raw JSON (argument: its OUT folder): per ISA and weight shape, the
median over rounds of each kernel row's figure at every batch size for the base and this build, their ratio, and the
load averages the runs started and ended at; then, where there are engine runs, the median decode tok/s per file."""
import glob, json, os, re, statistics, sys
from collections import defaultdict

out = sys.argv[1]
runs = defaultdict(list)  # (isa, shape, build) -> reports
for path in sorted(glob.glob(os.path.join(out, "kernels-*-round*.json"))):
    m = re.match(r"kernels-(base|now)-(\w+)-(\d+x\d+)-round(\d+)\.json", os.path.basename(path))
    if m:
        runs[(m[2], m[3], m[1])].append(json.load(open(path)))

for isa, shape in sorted({(k[0], k[1]) for k in runs}):
    base, now = runs.get((isa, shape, "base"), []), runs.get((isa, shape, "now"), [])
    if not base or not now:
        continue
    batches = now[0]["results"][0]["batches"]
    loads = sorted(r["load_average_start"].split()[0] for r in base + now)
    print(f"\n### {isa}, {shape} weights ({len(now)} rounds, {now[0]['dotnet_isa']}, load average {loads[0]}-{loads[-1]})\n")
    print("| type | kernel | " + " | ".join(f"n={b} base / now (ratio)" for b in batches) + " |")
    print("|---|---|" + "---:|" * len(batches))

    def medians(reports):
        rows = defaultdict(list)
        for r in reports:
            for row in r["results"]:
                rows[(row["type"], row["kernel"])].append(row["ns_per32_products"])
        return {k: [statistics.median(v[i] for v in vs) for i in range(len(batches))] for k, vs in rows.items()}

    mb, mn = medians(base), medians(now)
    for key in mn:
        if key not in mb:
            continue
        cells = [f"{b:.2f} / {n:.2f} ({b / n:.2f}x)" for b, n in zip(mb[key], mn[key])]
        print(f"| {key[0]} | {key[1]} | " + " | ".join(cells) + " |")

engine = defaultdict(list)  # (isa, build, file) -> best decode rate per run
for path in sorted(glob.glob(os.path.join(out, "engine-*-round*.json"))):
    m = re.match(r"engine-(base|now)-(\w+)-round(\d+)\.json", os.path.basename(path))
    if not m:
        continue
    report = json.load(open(path))
    for e in report["results"]:
        engine[(m[2], m[1], e["file"])].append((max(e["decode_tok_per_sec"]), report["load_average_start"].split()[0]))
if engine:
    print("\n### engine decode tok/s (tg64 from empty, F16 KV, best repetition per run; median over rounds [load averages])\n")
    print("| ISA | file | base | now | ratio |")
    print("|---|---|---:|---:|---:|")
    for isa, _, f in sorted({(k[0], None, k[2]) for k in engine}):
        b, n = engine.get((isa, "base", f), []), engine.get((isa, "now", f), [])
        if b and n:
            mb, mn = statistics.median(x for x, _ in b), statistics.median(x for x, _ in n)
            print(f"| {isa} | {os.path.basename(f)} | {mb:.1f} [{', '.join(l for _, l in b)}] | {mn:.1f} [{', '.join(l for _, l in n)}] | {mn / mb:.2f} |")
