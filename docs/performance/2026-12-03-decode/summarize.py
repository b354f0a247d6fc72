#!/usr/bin/env python3
"""Tables from kernel-ab.sh / rows-ab.sh logs (ns per 32 products; new ÷ base below 1 is faster) or engine-ab.sh logs
(decode tok/s; new ÷ base above 1 is faster, and tok/s ÷ each run's own decode limit), per round and the median.
Usage: summarize.py LOG [LOG ...]"""
import re, sys, statistics as st
from collections import defaultdict

runs, loads = defaultdict(dict), []
for path in sys.argv[1:]:
    for line in open(path):
        m = dict(re.findall(r'(\w+)=(\S+)', line))
        value = m.get('ns') or m.get('tg')
        if not value: continue
        key = (m['isa'], m.get('shape') or m.get('model'))
        limit = float(m['limit'].replace('tok/s', '')) if 'limit' in m else None
        runs[key].setdefault(m['round'], {})[m['side']] = (float(value), limit)
        loads.append(float(m['load']))

engine = any(v[1] is not None for r in runs.values() for s in r.values() for v in s.values())
unit = "decode tok/s" if engine else "ns/32 products"
print(f"load average {min(loads):.1f}-{max(loads):.1f}")
print(f"| ISA | case | base {unit} (median) | new (median) | new ÷ base per round | median |" + (" % of own limit base ; new |" if engine else ""))
print("|---|---|---:|---:|---|---:|" + ("---:|" if engine else ""))
for (isa, case), rounds in runs.items():
    pairs = [(v['base'], v['new']) for v in rounds.values() if 'base' in v and 'new' in v]
    ratios = [n[0] / b[0] for b, n in pairs]
    row = (f"| {isa} | {case} | {st.median(b[0] for b, _ in pairs):.3g} | {st.median(n[0] for _, n in pairs):.3g} | "
           f"{', '.join(f'{r:.2f}' for r in ratios)} | **{st.median(ratios):.2f}** |")
    if engine:
        row += f" {100 * st.median(b[0] / b[1] for b, _ in pairs):.0f}% ; {100 * st.median(n[0] / n[1] for _, n in pairs):.0f}% |"
    print(row)
