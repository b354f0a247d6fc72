#!/usr/bin/env bash
# Reproduces docs/experiments/planner.md, "Placements for DistServe's A100 profiles" and "Planning time":
# tandem plan over DistServe's A100 profiles with the paper's chatbot SLOs. Outputs go to OUT (default
# docs/experiments/planner/placements). Run from the repository root after `dotnet build -c Release`.
set -euo pipefail
OUT=${1:-docs/experiments/planner/placements}
P=../shared/data/distserve-a100/profiler-a100-80g.distserve.json
TANDEM="dotnet src/Tandem.Cli/bin/Release/net10.0/tandem.dll"
mkdir -p "$OUT"
plan() { local name=$1; shift; $TANDEM plan --profile "$P" --workload chatbot --nodes 1 --devices-per-node 8 --check 2 --top 5 --out "$OUT/$name.plan.json" "$@" > "$OUT/$name.txt" 2>&1; }
plan opt13b-1x8     --model-name opt-13b --slo-ttft 0.25 --slo-tpot 0.1
plan opt13b-1x8-dis --model-name opt-13b --slo-ttft 0.25 --slo-tpot 0.1 --candidates high,low
plan opt66b-1x8     --model-name opt-66b --slo-ttft 0.4 --slo-tpot 0.1
plan opt66b-1x8-dis --model-name opt-66b --slo-ttft 0.4 --slo-tpot 0.1 --candidates high,low
# Planning time against the number of GPUs (CPU time is the figure to read on a shared machine).
for shape in "1 2" "1 4" "1 8" "2 8" "4 8"; do
  set -- $shape
  /usr/bin/time -f "%e s wall, %U s user" $TANDEM plan --profile "$P" --model-name opt-13b --workload chatbot --slo-ttft 0.25 --slo-tpot 0.1 \
    --nodes "$1" --devices-per-node "$2" --check 0 --top 3 > "$OUT/time-opt13b-$1x$2.txt" 2>&1
done
