#!/usr/bin/env python3
"""Summarises bench/experiments/local-prefill.sh's output directory: one row per --local-prefill-threshold, measured
and simulated, as markdown on standard output and as OUT/summary.json, which also holds the recommendation of each
side (the threshold with the highest goodput, by search when it ran, else at the fixed rate; ties to the lower
threshold, the smaller change) and the line of docs/experiments/prefix-caching.md that the quiet run regenerates.

    python3 bench/experiments/local-prefill-summary.py OUT [--command CMD] [--seconds S]
"""
import argparse
import json
import os

import bench_report

parser = argparse.ArgumentParser()
parser.add_argument("out")
parser.add_argument("--command", default="")
parser.add_argument("--seconds", type=int, default=None)
args = parser.parse_args()
out = args.out


def load(name):
    return bench_report.load_if_present(os.path.join(out, name))


def thresholds(prefix):
    return sorted(int(name.rsplit("-", 1)[1]) for name in bench_report.names(out, rf"{prefix}-\d+"))


def row(prefix, t):
    report = load(f"{prefix}-{t}.json")
    if report is None:
        return None
    runs = report["runs"]
    s = runs[0]["summary"]
    requests = [r for run in runs for r in run["requests"] if r.get("success") and r.get("server_timeline")]
    search = load(f"{prefix}-{t}.goodput.json")
    load_text = open(os.path.join(out, f"{prefix}-{t}.load")).read().split() if os.path.exists(os.path.join(out, f"{prefix}-{t}.load")) else []
    return {
        "threshold": t,
        "rate": runs[0]["rate"],
        "requests": s["total"],
        "ttft_p50_ms": 1000 * s["ttft"]["median"],
        "ttft_p90_ms": 1000 * s["ttft"]["p90"],
        "tpot_p50_ms": 1000 * s["tpot"]["median"],
        "tpot_p90_ms": 1000 * s["tpot"]["p90"],
        "slo_attainment": s["slo_attainment"],
        "goodput_at_rate": s["good_request_throughput"],
        "goodput_search": (search or {}).get("goodput", {}).get("goodput") if search else None,
        "cached_prompt_tokens": s.get("cached_prompt_tokens"),
        "input_tokens": s["input_tokens"],
        # No pull: prefilled on the decode instance (conditional disaggregation).
        "prefilled_on_decode": sum(1 for r in requests if r["server_timeline"].get("transfer_start") is None),
        "load_before": " ".join(load_text[1:4]) if len(load_text) >= 4 else None,
        "load_after": " ".join(load_text[5:8]) if len(load_text) >= 8 else None,
    }


def best(rows):
    rows = [r for r in rows if r]
    if not rows:
        return None
    key = "goodput_search" if all(r["goodput_search"] is not None for r in rows) else "goodput_at_rate"
    top = max(r[key] for r in rows)
    pick = min(r["threshold"] for r in rows if r[key] == top)
    return {"threshold": pick, "by": key, "goodput": top}


measured = [row("measured", t) for t in thresholds("measured")]
simulated = [row("sim", t) for t in thresholds("sim")]
rec_measured, rec_simulated = best(measured), best(simulated)


def fmt(x, digits=0):
    return "–" if x is None else f"{x:.{digits}f}"


def table(title, rows, with_load):
    print(f"## {title}\n")
    head = "| threshold | TTFT p50 / p90 (ms) | TPOT p50 / p90 (ms) | SLO attainment | goodput at rate (req/s) | goodput by search (req/s) | prefilled on decode | cached |"
    print(head + (" load avg before / after |" if with_load else ""))
    print("|" + "---|" * (head.count("|") - 1 + (1 if with_load else 0)))
    for r in rows:
        if not r:
            continue
        line = (f"| {r['threshold'] or 'off (0)'} | {fmt(r['ttft_p50_ms'])} / {fmt(r['ttft_p90_ms'])} | {fmt(r['tpot_p50_ms'])} / {fmt(r['tpot_p90_ms'])} | "
                f"{100 * r['slo_attainment']:.0f}% | {fmt(r['goodput_at_rate'], 2)} | {fmt(r['goodput_search'], 2)} | "
                f"{r['prefilled_on_decode']} of {r['requests']} | {100 * (r['cached_prompt_tokens'] or 0) / max(1, r['input_tokens']):.0f}% |")
        print(line + (f" {r['load_before']} / {r['load_after']} |" if with_load else ""))
    print()


if args.command:
    print(f"Command: `{args.command}`" + (f" ({args.seconds} s)" if args.seconds is not None else "") + "\n")
if measured:
    table("Measured (1 prefill core + 1 decode core)", measured, with_load=True)
table("Simulated (tandem simulate, same workload and placement)", simulated, with_load=False)


def say(name, rec):
    return f"{name} recommends --local-prefill-threshold {rec['threshold']} ({rec['by'].replace('_', ' ')} {rec['goodput']:.2f} req/s)" if rec else f"{name}: no data"


doc_line = "; ".join(say(n, r) for n, r in (("measured", rec_measured), ("simulator", rec_simulated)) if r)
print(say("simulator", rec_simulated))
if rec_measured:
    print(say("measured", rec_measured))
summary = {
    "command": args.command,
    "seconds": args.seconds,
    "measured": [r for r in measured if r],
    "simulated": [r for r in simulated if r],
    "recommended": {"measured": rec_measured, "simulator": rec_simulated},
    "doc_line": f"Local prefill threshold ({args.command or 'local-prefill.sh'}): {doc_line}.",
}
with open(os.path.join(out, "summary.json"), "w") as f:
    json.dump(summary, f, indent=2)
