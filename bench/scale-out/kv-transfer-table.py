#!/usr/bin/env python3
"""Markdown table of KV transfer runs (the JSON bench/scale-out/kv-transfer.cs writes), for docs/experiments/scale-out.md.

    bench/scale-out/kv-transfer-table.py docs/experiments/scale-out/kv-transfer-*.json
"""
import json
import sys

print("| model | path | prompt | KV bytes | transfer (median) | throughput | end-to-end | transfer share | load avg at end |")
print("|---|---|---:|---:|---:|---:|---:|---:|---|")
for path in sys.argv[1:]:
    with open(path) as f:
        run = json.load(f)
    load = " ".join(run["loadavg_at_end"].split()[:3])
    for s in run["summary"]:
        print(f"| {run['model'].removesuffix('.gguf')} | {s['path']} | {s['prompt_tokens']} | {s['kv_bytes'] / 1e6:.2f} MB "
              f"| {s['transfer_ms_median']:.1f} ms | {s['throughput_mb_s_median']:.0f} MB/s | {s['e2e_s_median']:.2f} s "
              f"| {100 * s['transfer_share_median']:.1f}% | {load} |")
