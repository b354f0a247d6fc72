#!/usr/bin/env python3
"""Per model: decode tok/s of A (main) and B (branch) per round, B/A per round, the median ratio, % of the decode limit, load."""
import json, glob, os, re, statistics, sys
d = sys.argv[1]
runs = {}
for f in glob.glob(os.path.join(d, '*.json')):
    m = re.match(r'(.+)-([AB])-r(\d+)\.json', os.path.basename(f))
    j = json.load(open(f))
    r = j['results'][0]
    tg = max(r['decode_tok_per_sec'])
    limit = j['read_bandwidth_bytes_per_sec'] / r['weight_bytes_per_token']
    runs.setdefault(m.group(1), {}).setdefault(int(m.group(3)), {})[m.group(2)] = (tg, limit, j['load_average_start'].split()[0])
for model, rounds in sorted(runs.items()):
    ratios = []
    print(f'## {model}')
    for r in sorted(rounds):
        x = rounds[r]
        if 'A' in x and 'B' in x:
            ratios.append(x['B'][0] / x['A'][0])
            print(f"r{r}: A {x['A'][0]:.1f} ({100*x['A'][0]/x['A'][1]:.0f}% of limit, load {x['A'][2]})  B {x['B'][0]:.1f} ({100*x['B'][0]/x['B'][1]:.0f}%, load {x['B'][2]})  B/A {ratios[-1]:.2f}")
    if ratios:
        print(f'median B/A {statistics.median(ratios):.2f} over {len(ratios)} rounds (min {min(ratios):.2f}, max {max(ratios):.2f})')
