#!/usr/bin/env python3
"""Summarises bench/experiments/server-step.sh's output directory: per run (round, variant, mode) the server ÷ bench
ratio of each instance's steps (median, p90, time-weighted, by kind), what the loop did around them (run-queue and
off-CPU share of the forward time, steps with a GC, allocation), the client's TTFT / TPOT medians and the load average;
then the medians over rounds per variant and mode. Markdown on standard output, everything in OUT/summary.json.

    python3 bench/experiments/server-step-summary.py OUT
"""
import json
import os
import re
import statistics
import sys

out = sys.argv[1]
load = {}
with open(os.path.join(out, "load.tsv")) as f:
    next(f)
    for line in f:
        run, start, before, after_serve, after_replay = line.rstrip("\n").split("\t")
        load[run] = {"start": start, "before": before, "after_serve": after_serve, "after_replay": after_replay}

rows = []
for name in sorted(os.listdir(out)):
    m = re.fullmatch(r"r(\d+)-(.+)-(disaggregated|colocated|chunked)\.replay\.json", name)
    if not m:
        continue
    label = name[: -len(".replay.json")]
    replay = json.load(open(os.path.join(out, name)))
    # Further replays of the same step log, each in its own process (REPLAYS=K): label.replay-2.json, ...
    extra = []
    k = 2
    while os.path.exists(os.path.join(out, f"{label}.replay-{k}.json")):
        extra.append(json.load(open(os.path.join(out, f"{label}.replay-{k}.json"))))
        k += 1
    client = {}
    bench_path = os.path.join(out, label + ".bench.json")
    if os.path.exists(bench_path):
        s = json.load(open(bench_path))["runs"][0]["summary"]
        client = {"ttft_p50_ms": 1000 * s["ttft"]["median"], "tpot_p50_ms": 1000 * s["tpot"]["median"], "slo_attainment": s["slo_attainment"]}
    for inst in replay["instances"]:
        r, f = inst["ratios"], inst["server"]
        per_replay = [r["median"]] + [i["ratios"]["median"] for e in extra for i in e["instances"] if i["name"] == inst["name"]]
        spreads = [b["bench_pass_spread"] for b in inst["buckets"] if b.get("bench_pass_spread") is not None]
        rows.append({
            "run": label, "round": int(m.group(1)), "variant": m.group(2), "mode": m.group(3), "instance": inst["name"],
            "steps": inst["steps"], "replayed": inst["replayed"], "lost": inst["lost"],
            "median": r["median"], "p90": r["p90"], "alone": r["median_alone"], "steps_alone": r["steps_alone"],
            "beside": r["median_beside"], "steps_beside": r["steps_beside"], "time_weighted": r["time_weighted"], "by_kind": r["median_by_kind"],
            "forward_ms": f["forward_median_ms"], "gap_ms": f["gap_median_ms"], "after_forward_ms": f["after_forward_median_ms"],
            "run_queue_share": f["run_queue_share"], "off_cpu_share": f["off_cpu_share"], "gc_steps_share": f["steps_with_gc_share"],
            "gc_pause_ms": f["gc_pause_ms"], "alloc_bytes_median": f["allocated_bytes_median"], "preemptions": f["preemptions"],
            "median_per_replay": per_replay, "median_over_replays": statistics.median(per_replay),
            "bench_pass_spread_median": statistics.median(spreads) if spreads else None,
            "overall_median": replay["overall"]["median"], "load": load.get(label, {}), "replay_load": replay["load_average_start"], **client,
        })


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(x, spec=".2f"):
    return "–" if x is None or (isinstance(x, float) and x != x) else format(x, spec)


print("# Server step against bench step\n")
print(open(os.path.join(out, "machine.txt")).read().strip().replace("\n", "; ") + "\n" if os.path.exists(os.path.join(out, "machine.txt")) else "")
print("Server ÷ bench: each step's forward time in the server over the median of the same batch replayed alone (Tandem.Bench steps).")
print("With 2 cores the client and Kestrel share the instances' cores: the run-queue share is the time the instance's threads")
print("waited for a core during forward passes.\n")
print("| run | instance | steps | server ÷ bench median | per replay process | bench pass spread | p90 | time-weighted | by kind | alone (steps) | beside another forward (steps) | forward ms p50 | run-queue share | off-CPU share | steps with GC | alloc B/step p50 | TTFT p50 ms | TPOT p50 ms | load before → after serve |")
print("|---|---|---:|---:|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
for r in rows:
    kinds = ", ".join(f"{k} {fmt(v)}" for k, v in r["by_kind"].items())
    per_replay = " / ".join(fmt(x) for x in r["median_per_replay"])
    print(f"| {r['run']} | {r['instance']} | {r['replayed']}/{r['steps']} | {fmt(r['median_over_replays'])} | {per_replay} | {fmt(r['bench_pass_spread_median'])} | {fmt(r['p90'])} | {fmt(r['time_weighted'])} | {kinds} | "
          f"{fmt(r['alone'])} ({r['steps_alone']}) | {fmt(r['beside'])} ({r['steps_beside']}) | "
          f"{fmt(r['forward_ms'])} | {fmt(r['run_queue_share'], '.1%')} | {fmt(r['off_cpu_share'], '.1%')} | {fmt(r['gc_steps_share'], '.1%')} | "
          f"{fmt(r['alloc_bytes_median'], '.0f')} | {fmt(r.get('ttft_p50_ms'), '.0f')} | {fmt(r.get('tpot_p50_ms'), '.1f')} | "
          f"{r['load'].get('before', '?')} → {r['load'].get('after_serve', '?')} |")

groups = {}
for r in rows:
    groups.setdefault((r["variant"], r["mode"], r["instance"]), []).append(r)
if any(len(v) > 1 for v in groups.values()):
    print("\nMedians over rounds:\n")
    print("| variant | mode | instance | rounds | server ÷ bench median | alone | beside | time-weighted | run-queue share |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|")
    for (variant, mode, instance), rs in sorted(groups.items()):
        print(f"| {variant} | {mode} | {instance} | {len(rs)} | {fmt(med(x['median_over_replays'] for x in rs))} | "
              f"{fmt(med(x['alone'] for x in rs))} | {fmt(med(x['beside'] for x in rs))} | "
              f"{fmt(med(x['time_weighted'] for x in rs))} | {fmt(med(x['run_queue_share'] for x in rs), '.1%')} |")
json.dump(rows, open(os.path.join(out, "summary.json"), "w"), indent=2)
