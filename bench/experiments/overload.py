#!/usr/bin/env python3
"""Summarises bench/experiments/overload.sh's output directory: per half (without / with admission control) the
requests offered, refused (HTTP 429), answered, unanswered (client timeout or no HTTP answer), the SLO attainment
of the admitted requests, and the server's peak resident set in the first and the second half of the run."""
import os
import sys

import bench_report


def rss_peaks(out, half):
    path = os.path.join(out, f"{half}.rss.tsv")
    start = float(open(os.path.join(out, f"{half}.start")).read())
    end = float(open(os.path.join(out, f"{half}.end")).read())
    mid = (start + end) / 2
    first, second = 0, 0
    for line in open(path):
        t, _, kb = line.strip().partition("\t")
        if not kb:
            continue
        t, mib = float(t), int(kb) / 1024
        if start <= t < mid:
            first = max(first, mib)
        elif mid <= t <= end:
            second = max(second, mib)
    return first, second


def main(out):
    print("| half | offered | refused (429) | admitted | attainment of admitted | no answer within the client timeout | other errors | peak RSS 1st half (MiB) | peak RSS 2nd half (MiB) | 2nd / 1st |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for half in ("none", "admission"):
        report = bench_report.load_if_present(os.path.join(out, f"{half}.json"))
        if report is None:
            continue
        requests = [r for run in report["runs"] for r in run["requests"]]
        refused = [r for r in requests if r.get("http_status") == 429]
        admitted = [r for r in requests if r.get("http_status") != 429]
        unanswered = [r for r in requests if r.get("timed_out") or (not r["success"] and r.get("http_status") is None)]
        other = [r for r in admitted if not r["success"] and r not in unanswered]
        met = sum(1 for r in admitted if r["meets_slo"])
        first, second = rss_peaks(out, half)
        ratio = f"{second / first:.3f}" if first else "n/a"
        attainment = f"{met / len(admitted):.1%}" if admitted else "n/a"
        print(f"| {half} | {len(requests)} | {len(refused)} ({len(refused) / len(requests):.1%}) | {len(admitted)} | "
              f"{attainment} | {len(unanswered)} | {len(other)} | {first:.0f} | {second:.0f} | {ratio} |")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".")
