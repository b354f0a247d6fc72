#!/usr/bin/env python3
"""Where requests' time goes on the server, from bench reports (the per-request server timeline tandem serve returns):
per configuration, the median prefill queue wait, prefill compute, wait for the decode side's pull, the pull itself, and
TTFT / TPOT, for all requests and split into requests that hit the prefix cache and those that did not; "local" counts
requests prefilled on a decode instance (conditional disaggregation: no transfer).

    python3 bench/experiments/server-timeline.py OUT_DIR [LABEL ...]     # labels default to every *.json(.gz) in OUT_DIR
"""
import os
import statistics
import sys

import bench_report

out = sys.argv[1]
labels = sys.argv[2:] or bench_report.names(out)


def median_ms(values):
    values = [v for v in values if v is not None]
    return f"{1000 * statistics.median(values):.0f}" if values else "-"


def span(t, a, b):
    return t[b] - t[a] if t.get(a) is not None and t.get(b) is not None else None


print("| configuration | requests | cached? | local | prefill queue | prefill compute | wait for pull | pull | TTFT | TPOT |")
print("|---|---|---|---|---|---|---|---|---|---|")
for label in labels:
    report = bench_report.load_if_present(os.path.join(out, label + ".json"))
    if report is None or "runs" not in report:  # not run, or not a report (summary.json)
        continue
    requests = [r for run in report["runs"] for r in run["requests"] if r["success"] and r.get("server_timeline")]
    for name, group in (("all", requests), ("hit", [r for r in requests if (r.get("cached_prompt_tokens") or 0) > 0]),
                        ("miss", [r for r in requests if not (r.get("cached_prompt_tokens") or 0)])):
        if not group:
            continue
        t = [r["server_timeline"] for r in group]
        local = sum(1 for x in t if x.get("transfer_start") is None)  # no pull: prefilled where it decoded
        print(f"| {label} | {len(group)} | {name} | {local} | {median_ms(span(x, 'prefill_queued', 'prefill_start') for x in t)} | "
              f"{median_ms(span(x, 'prefill_start', 'prefill_end') for x in t)} | {median_ms(span(x, 'prefill_end', 'transfer_start') for x in t)} | "
              f"{median_ms(span(x, 'transfer_start', 'transfer_end') for x in t)} | {median_ms(r['ttft_s'] for r in group)} | "
              f"{median_ms(r['tpot_s'] for r in group)} |")
