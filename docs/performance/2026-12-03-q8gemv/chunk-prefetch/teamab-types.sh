#!/bin/bash
# as teamab.sh, the output shape only, for F16 and Q4_K weights (TYPE picks the weight type)
for r in 1 2 3 4; do
  for type in F16 Q4_K; do
    if [ $((r % 2)) -eq 1 ]; then order="outbase out"; else order="out outbase"; fi
    for d in $order; do
      echo "r$r $type $d $(date -u +%H:%M:%S) $(TYPE=$type ./$d/Tandem.Bench 32000 2048 team 2 | awk '{b=b" "$3; m=m" "$7} END {print "best" b " median" m " load " $NF}')"
    done
  done
done
