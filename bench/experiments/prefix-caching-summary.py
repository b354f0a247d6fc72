#!/usr/bin/env python3
"""Tables of docs/experiments/prefix-caching.md from the reports bench/experiments/prefix-caching.sh wrote.

    python3 bench/experiments/prefix-caching-summary.py OUT_DIR > summary.md
"""
import os
import re
import sys

import bench_report

out = sys.argv[1]


def load(label):
    return bench_report.load_if_present(os.path.join(out, label + ".json"))


def loadavg(label):
    path = os.path.join(out, label + ".load")
    if not os.path.exists(path):
        return ""
    m = re.search(r"load average: ([0-9.]+)", open(path).read())
    return m.group(1) if m else ""


def metric(label, name):
    path = os.path.join(out, label + ".metrics")
    if not os.path.exists(path):
        return None
    total = 0.0
    for line in open(path):
        if line.startswith(name + "{") or line.startswith(name + " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


def ms(x):
    return f"{1000 * x:.0f}"


def rows(labels):
    print("| configuration | rate (conv/s) | TTFT p50 / p90 / p99 (ms) | TPOT p50 (ms) | SLO attainment | good req/s | prompt tokens | cached | prefill tokens computed | load avg |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for label in labels:
        report = load(label)
        if report is None:
            continue
        for run in report["runs"]:
            s = run["summary"]
            ttft, tpot = s.get("ttft"), s.get("tpot")
            cached = s.get("cached_prompt_tokens") or 0
            inp = s["input_tokens"]
            print(f"| {label} | {run['rate']:g} | {ms(ttft['median'])} / {ms(ttft['p90'])} / {ms(ttft['p99'])} | "
                  f"{ms(tpot['median']) if tpot else '-'} | {100 * s['slo_attainment']:.1f}% | {s['good_request_throughput']:.2f} | "
                  f"{inp} | {cached} ({100 * cached / max(1, inp):.0f}%) | {inp - cached} | {loadavg(label)} |")


print("## Cache off / on, disaggregated and colocated\n")
local = sorted(bench_report.names(out, r"disaggregated-local-\d+"), key=lambda label: int(re.sub(r"\D", "", label) or 0))
busy = sorted(bench_report.names(out, r"disaggregated-busy-\d+"), key=lambda label: int(re.sub(r"\D", "", label) or 0))
rows(["disaggregated-off", "disaggregated-on", *local, *busy, "colocated-off", "colocated-on"])
print("\n## Routing: two colocated 1-core instances, cache on\n")
rows(["route-cache-aware", "route-round-robin"])
print("\n## Hit rate against KV cache size (colocated, both cores)\n")
print("| KV per instance | blocks | hit rate (cached / prompt tokens) | TTFT p50 / p90 (ms) | vllm:prefix_cache_hits_total / queries_total | load avg |")
print("|---|---|---|---|---|---|")
sizes = sorted(bench_report.names(out, r"size-\d+MiB"), key=lambda label: int(re.search(r"size-(\d+)MiB", label).group(1)))
for label in sizes:
    report = load(label)
    s = report["runs"][0]["summary"]
    cached = s.get("cached_prompt_tokens") or 0
    blocks = metric(label, "tandem:kv_blocks_total")
    hits, queries = metric(label, "vllm:prefix_cache_hits_total"), metric(label, "vllm:prefix_cache_queries_total")
    print(f"| {label[5:]} | {blocks:.0f} | {100 * cached / max(1, s['input_tokens']):.0f}% | {ms(s['ttft']['median'])} / {ms(s['ttft']['p90'])} | "
          f"{hits:.0f} / {queries:.0f} | {loadavg(label)} |")

disk = ["disk-colocated-ram-only", "disk-colocated", "disk-disaggregated-ram-only", "disk-disaggregated"]
if any(load(label) for label in disk):
    print("\n## Cache on + disk tier, RAM cache too small for the workload\n")
    rows(disk)
    print("\n| configuration | disk hits (blocks) | disk misses | read (MiB) | written (MiB) | writes dropped | start-up decision |")
    print("|---|---|---|---|---|---|---|")
    for label in disk:
        if label.endswith("ram-only") or load(label) is None:
            continue
        log = os.path.join(out, label + ".server.log")
        line = next((l.strip() for l in open(log) if l.startswith("KV disk tier:")), "") if os.path.exists(log) else ""
        decision = line.split("; ", 1)[1] if "; " in line else ""
        mib = lambda name: (metric(label, name) or 0) / (1 << 20)
        print(f"| {label} | {metric(label, 'tandem:kv_disk_hits_total') or 0:.0f} | {metric(label, 'tandem:kv_disk_misses_total') or 0:.0f} | "
              f"{mib('tandem:kv_disk_read_bytes_total'):.1f} | {mib('tandem:kv_disk_written_bytes_total'):.1f} | "
              f"{metric(label, 'tandem:kv_disk_writes_dropped_total') or 0:.0f} | {decision} |")

# GOODPUT=1 runs: each configuration's search (LABEL.goodput.json), its probes, and the first probe's latencies.
searched = bench_report.names(out, r".+\.goodput")
if searched:
    print("\n## Goodput: the highest conversation rate meeting the SLOs for 90% of requests\n")
    print("| configuration | goodput (conv/s) | probes: rate (conv/s) → attainment | at the first probe: rate, TTFT p50 / p90 / p99 (ms), TPOT p50 (ms), attainment | cached | prefill tokens computed | load avg |")
    print("|---|---|---|---|---|---|---|")
    labels = [label[:-len(".goodput")] for label in searched]
    order = ["disaggregated-off", "disaggregated-on",
             *sorted((l for l in labels if re.fullmatch(r"disaggregated-(local|busy)-\d+", l)), key=lambda l: (l.split("-")[1], int(l.split("-")[2]))),
             "colocated-off", "colocated-on", "disk-colocated", "disk-disaggregated"]
    for label in sorted(labels, key=lambda l: order.index(l) if l in order else len(order)):
        report = load(label + ".goodput")
        g = report["goodput"]
        if g.get("lowest_failing_rate") is None:
            value = f"≥ {g['goodput']:g} (passes at the search's maximum)"
        elif g["goodput"] == 0:
            value = f"< {min(p['rate'] for p in g['probes']):g} (none passed)"
        else:
            value = f"{g['goodput']:g} (fails at {g['lowest_failing_rate']:g})"
        probes = ", ".join(f"{p['rate']:g} → {100 * p['attainment']:.1f}%" for p in g["probes"])
        first = report["runs"][0]
        s = first["summary"]
        ttft, tpot = s["ttft"], s.get("tpot")
        cached = s.get("cached_prompt_tokens") or 0
        inp = s["input_tokens"]
        print(f"| {label} | {value} | {probes} | {first['rate']:g}: {ms(ttft['median'])} / {ms(ttft['p90'])} / {ms(ttft['p99'])}, "
              f"{ms(tpot['median']) if tpot else '-'}, {100 * s['slo_attainment']:.1f}% | {cached} of {inp} ({100 * cached / max(1, inp):.0f}%) | "
              f"{inp - cached} | {loadavg(label)} |")
