#!/usr/bin/env python3
"""Median ns per 32 products per (isa, shape, side) from kernel-ab*.sh logs, and new ÷ base per round (lower is faster)."""
import re, sys, statistics as st
from collections import defaultdict
rows = defaultdict(dict)
loads = []
for path in sys.argv[1:]:
    for line in open(path):
        m = dict(re.findall(r'(\w+)=(\S+)', line))
        if 'ns' not in m or not m['ns']: continue
        rows[(m['isa'], m['shape'])].setdefault(m['round'], {})[m['side']] = float(m['ns'])
        loads.append(float(m['load']))
print(f"load average {min(loads):.1f}-{max(loads):.1f}")
print("| ISA | shape (rows x cols) | base ns/32 (median) | new ns/32 (median) | new / base per round | median |")
print("|---|---|---:|---:|---|---:|")
for (isa, shape), rounds in rows.items():
    pairs = [(v['base'], v['new']) for v in rounds.values() if 'base' in v and 'new' in v]
    ratios = [n / b for b, n in pairs]
    print(f"| {isa} | {shape} | {st.median(b for b, _ in pairs):.3f} | {st.median(n for _, n in pairs):.3f} | "
          f"{', '.join(f'{r:.2f}' for r in ratios)} | **{st.median(ratios):.2f}** |")
