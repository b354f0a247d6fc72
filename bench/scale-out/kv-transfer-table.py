#!/usr/bin/env python3
"""Markdown table of KV transfer runs (the JSON bench/scale-out/kv-transfer.cs writes), for docs/experiments/scale-out.md.

    bench/scale-out/kv-transfer-table.py docs/experiments/scale-out/kv-transfer-*.json
"""
import json
import sys


# Runs before the overlap columns existed have none: shown as n/a.
def ms(s, key):
    return f"{s[key]:.0f} ms" if key in s else "n/a"


def pct(s, key):
    return f"{100 * s[key]:.1f}%" if key in s else "n/a"


print("| model | path | prompt | KV bytes | transfer (median) | throughput | end-to-end | transfer share "
      "| TTFT | 2nd token | exposed transfer | exposed share | load avg at end |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
for path in sys.argv[1:]:
    with open(path) as f:
        run = json.load(f)
    load = " ".join(run["loadavg_at_end"].split()[:3])
    for s in run["summary"]:
        print(f"| {run['model'].removesuffix('.gguf')} | {s['path']} | {s['prompt_tokens']} | {s['kv_bytes'] / 1e6:.2f} MB "
              f"| {s['transfer_ms_median']:.1f} ms | {s['throughput_mb_s_median']:.0f} MB/s | {s['e2e_s_median']:.2f} s "
              f"| {100 * s['transfer_share_median']:.1f}% | {ms(s, 'ttft_ms_median')} | {ms(s, 'second_token_ms_median')} "
              f"| {ms(s, 'exposed_transfer_ms_median')} | {pct(s, 'exposed_share_median')} | {load} |")
