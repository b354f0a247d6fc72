#!/bin/bash
# alternating A/B of one matmul at one token on a 2-member team, wall time; base = main's engine, new = this branch
for r in 1 2 3 4 5 6; do
  for shape in "32000 2048" "5632 2048" "2048 5632"; do
    if [ $((r % 2)) -eq 1 ]; then order="outbase out"; else order="out outbase"; fi
    for d in $order; do
      echo "r$r $shape $d $(date -u +%H:%M:%S) $(./$d/Tandem.Bench $shape team 2 | awk '{b=b" "$3; m=m" "$7} END {print "best" b " median" m " load " $NF}')"
    done
  done
done
