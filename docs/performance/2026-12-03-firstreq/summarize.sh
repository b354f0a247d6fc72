#!/bin/bash
# Prints one row per run directory under this folder: start-up, first/second request wall, first chat / stream wall,
# the first request's ttft_ms and tpot_ms from the server's request log, and the load average at the end.
cd "$(dirname "$0")"
printf "%-20s %9s %9s %9s %9s %9s %9s %8s %8s  %s\n" run listen_s ready_s req1_s req2_s chat1_s stream1_s ttft_ms tpot_ms load
for d in */; do
  d=${d%/}; t=$d/times.txt; [ -f $t ] || continue
  log=$(ls $d/serve.out $d/frontend.out 2>/dev/null | head -1)
  first=$(grep -m1 "Tandem.Requests" $log)
  printf "%-20s %9.2f %9.2f %9.3f %9.3f %9.3f %9.3f %8s %8s  %s\n" $d \
    $(awk 'NR==1{print $2, $4}' $t) $(awk '/^request1 /{print $3}' $t) $(awk '/^request2 /{print $3}' $t) \
    $(awk '/^chat1 /{print $3}' $t) $(awk '/^stream1 /{print $3}' $t) \
    $(echo "$first" | grep -o "ttft_ms=[0-9.]*" | cut -d= -f2) $(echo "$first" | grep -o "tpot_ms=[0-9.]*" | cut -d= -f2) \
    "$(grep -o 'load average: .*' $t | cut -d' ' -f3-)"
done
