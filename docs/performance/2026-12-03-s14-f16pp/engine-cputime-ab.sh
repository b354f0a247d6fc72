#!/bin/bash
# engine A/B by process CPU time: $1 rounds, $2.. variants (dirs /tmp/s14pp/eng-<v>), 1 thread, pp512 x2
cd /work/wt-s14-f16pp
R=$1; shift
for r in $(seq $R); do
  vs="$@"; [ $((r % 2)) = 0 ] && vs=$(echo "$@" | tr ' ' '\n' | tac | tr '\n' ' ')
  for v in $vs; do
    l0=$(cut -d' ' -f1 /proc/loadavg)
    /usr/bin/time -f "%U %S %e" -o /tmp/s14pp/t.txt /tmp/s14pp/eng-$v/Tandem.Bench engine artifacts/models/tinyllama-1.1b-f16.gguf --no-bundle --pp 512 --tg 1 --kv f16 --reps 2 --threads ${THREADS:-1} > /tmp/s14pp/e.txt 2>&1
    pp=$(grep tinyllama /tmp/s14pp/e.txt | awk -F'|' '{print $3}')
    echo "round $r $v user,sys,wall $(cat /tmp/s14pp/t.txt) pp512 $pp load $l0-$(cut -d' ' -f1 /proc/loadavg)"
  done
done
