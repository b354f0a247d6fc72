#!/usr/bin/env python3
"""Simulated vs measured SLO attainment per rate for docs/experiments/planner.md.

Reads the simulated reports SIMULATED/{mode}.json (or .json.gz) and scores every request against both SLO pairs of
docs/experiments/disaggregation-on-cpu.md. The measured side is MEASURED/{mode}.json when given (bench reports of
the same workload), else the attainment tables published in disaggregation-on-cpu.md (its raw reports were not
committed). Prints markdown tables and the share of points within 5 points.

    bench/experiments/planner-compare.py SIMULATED [MEASURED]
"""
import os, sys

import bench_report

SIMULATED = sys.argv[1]
MEASURED = sys.argv[2] if len(sys.argv) > 2 else None
MODES = ["disaggregated", "colocated", "chunked"]
SLOS = {"chat (TTFT 2.5 s, TPOT 40 ms)": (2.5, 0.04), "tight TTFT (1.2 s, TPOT 100 ms)": (1.2, 0.1)}
# disaggregation-on-cpu.md, "Results" and the tight-TTFT table: attainment (%) at 0.3, 0.6, 0.9, 1.2 req/s.
PUBLISHED = {
    (2.5, 0.04): {"disaggregated": [100, 100, 73, 53], "colocated": [83, 70, 63, 17], "chunked": [90, 80, 67, 20]},
    (1.2, 0.1): {"disaggregated": [70, 60, 40, 27], "colocated": [100, 87, 93, 53], "chunked": [100, 90, 83, 57]},
}
PUBLISHED_RATES = [0.3, 0.6, 0.9, 1.2]


def attainment(run, ttft, tpot):
    reqs = run["requests"]
    good = sum(1 for r in reqs if r["success"] and r["ttft_s"] is not None and r["ttft_s"] <= ttft
               and (r["tpot_s"] is None or r["tpot_s"] <= tpot))
    return 100.0 * good / len(reqs)


def runs(path):
    return {round(r["rate"], 3): r for r in bench_report.load(path)["runs"]}


# The rates compared are the simulated report's (a measured sweep must hold the same ones); the published tables
# only cover PUBLISHED_RATES.
RATES = sorted(runs(os.path.join(SIMULATED, f"{MODES[0]}.json")))
if not MEASURED and RATES != PUBLISHED_RATES:
    sys.exit(f"without MEASURED the rates must be the published {PUBLISHED_RATES}, the simulation has {RATES}")
within = total = 0
for name, (ttft, tpot) in SLOS.items():
    print(f"\n{name}: attainment % simulated / measured (|difference|)\n")
    print("| rate (req/s) | " + " | ".join(MODES) + " |")
    print("|---:|" + "---|" * len(MODES))
    rows = {rate: [] for rate in RATES}
    for mode in MODES:
        sim = runs(os.path.join(SIMULATED, f"{mode}.json"))
        measured = runs(os.path.join(MEASURED, f"{mode}.json")) if MEASURED else None
        for i, rate in enumerate(RATES):
            s = attainment(sim[rate], ttft, tpot)
            m = attainment(measured[rate], ttft, tpot) if measured else PUBLISHED[(ttft, tpot)][mode][i]
            d = abs(s - m)
            total += 1
            within += d <= 5
            rows[rate].append(f"{s:.0f} / {m:.0f} ({d:.0f})")
    for rate in RATES:
        print(f"| {rate} | " + " | ".join(rows[rate]) + " |")
print(f"\n{within} of {total} points within 5 points ({100 * within / total:.0f}%).")

def means(run):
    s = run["summary"]
    prefill = ((s.get("breakdown") or {}).get("prefill") or {}).get("mean")
    return f"prefill {prefill * 1000 if prefill else float('nan'):.0f}, TTFT {s['ttft']['mean'] * 1000:.0f}, TPOT {s['tpot']['mean'] * 1000:.1f}"


print("\nmean latencies (ms), simulated" + (" → measured" if MEASURED else ""))
for mode in MODES:
    sim = runs(os.path.join(SIMULATED, f"{mode}.json"))
    measured = runs(os.path.join(MEASURED, f"{mode}.json")) if MEASURED else None
    for rate in RATES:
        print(f"- {mode} @ {rate}: {means(sim[rate])}" + (f" → {means(measured[rate])}" if measured else ""))
