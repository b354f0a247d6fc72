#!/usr/bin/env bash
# Cold start (issue 9): what one `tandem generate` of a 501-token prompt and 128 tokens prints when the process is
# new, under each start-up configuration of the .NET runtime, in alternating rounds (the order rotates every round,
# so a machine that speeds up or slows down moves every configuration alike); then the same prompt length in a warmed
# process (`Tandem.Bench engine`, which times after a warm-up run) for the cold / warm comparison in
# docs/performance.md ("Cold start"). Each run prints the program's own prefill and decode speed, the whole command's
# wall and CPU seconds and its peak resident memory (/usr/bin/time); the end prints the medians per configuration.
#
#   bench/experiments/cold-start.sh [MODEL.gguf]     (default artifacts/models/smollm-135m-q8_0.gguf)
#
# Configurations (VARIANTS, space-separated; default all but base; the tiering variants turn tiering on first, as the
# CLI's runtimeconfig has it off):
#   build            dotnet tandem.dll as `dotnet run` / `dotnet build` leave it: the shipped settings
#   r2r              the CLI published with ReadyToRun (precompiled code; -r for this machine, framework-dependent)
#   tiered-off       DOTNET_TieredCompilation=0: every method compiled once, fully optimised, no PGO (what the CLI
#                    ships since s11-cold: its runtimeconfig sets it)
#   tiered-on        DOTNET_TieredCompilation=1: .NET's default tiering, as the CLI ran before s11-cold
#   pgo-off          DOTNET_TieredPGO=0: tiering without the instrumented tier
#   quickjit-off     DOTNET_TC_QuickJit=0: methods without precompiled code compiled optimised at once (no tier 0,
#                    no PGO); the framework's ReadyToRun code still moves to tier 1 when hot
#   loops-optimised  DOTNET_TC_QuickJitForLoops=0: methods with loops compiled optimised at once (no tier 0, no PGO)
#   loops-quick      DOTNET_TC_QuickJitForLoops=1: methods with loops start at tier 0 (+ OSR), .NET's default
#   tier-delay-0     DOTNET_TC_CallCountingDelayMs=0: hot methods move to tier 1 after 30 calls without waiting for
#                    start-up to go quiet (default 100 ms)
#   base             $BASE_TANDEM (a command line), e.g. an older build to compare with
# Knobs (environment): TANDEM (the command that runs the CLI; default: build it and run its tandem.dll), ROUNDS 5,
# THREADS 2, N 128, PROMPT_FILE (bench/llama-cpp/prompt-501.txt: 501 tokens with the GPT-2 vocabulary of the
# synthesized models), PP (its length in tokens, for the warmed run: 501), WARM 1 (0 skips the warmed run),
# OUT (default artifacts/cold-start/<UTC date-time>: every run's output).
set -euo pipefail
case ${1:-} in -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;; esac
cd "$(dirname "$0")/../.."
. bench/experiments/lib.sh
MODEL=${1:-artifacts/models/smollm-135m-q8_0.gguf}
VARIANTS=${VARIANTS:-build r2r tiered-on pgo-off loops-optimised loops-quick tier-delay-0}
ROUNDS=${ROUNDS:-5}; THREADS=${THREADS:-2}; N=${N:-128}; WARM=${WARM:-1}; PP=${PP:-501}
PROMPT_FILE=${PROMPT_FILE:-bench/llama-cpp/prompt-501.txt}
OUT=${OUT:-artifacts/cold-start/$(date -u +%Y%m%dT%H%M%SZ)}
[ -f "$MODEL" ] || { echo "error: $MODEL: no such file" >&2; exit 1; }
mkdir -p "$OUT"

[ -n "${TANDEM:-}" ] || tandem_build
BUILT=$TANDEM
case " $VARIANTS " in *" r2r "*)
  RID=$(dotnet --info | sed -n 's/^ *RID: *//p' | head -1)
  dotnet publish src/Tandem.Cli -c Release -r "$RID" --no-self-contained -p:PublishReadyToRun=true -v q -nologo \
    -o "$OUT/r2r" >/dev/null ;;
esac
# The command line of one configuration (environment assignments first, as `env` takes them).
variant_command() {
  case $1 in
    build) echo "$BUILT" ;;
    r2r) echo "dotnet $OUT/r2r/tandem.dll" ;;
    tiered-off) echo "env DOTNET_TieredCompilation=0 $BUILT" ;;
    tiered-on) echo "env DOTNET_TieredCompilation=1 $BUILT" ;;
    pgo-off) echo "env DOTNET_TieredCompilation=1 DOTNET_TieredPGO=0 $BUILT" ;;
    quickjit-off) echo "env DOTNET_TieredCompilation=1 DOTNET_TC_QuickJit=0 $BUILT" ;;
    loops-optimised) echo "env DOTNET_TieredCompilation=1 DOTNET_TC_QuickJitForLoops=0 $BUILT" ;;
    loops-quick) echo "env DOTNET_TieredCompilation=1 DOTNET_TC_QuickJitForLoops=1 $BUILT" ;;
    tier-delay-0) echo "env DOTNET_TieredCompilation=1 DOTNET_TC_CallCountingDelayMs=0 $BUILT" ;;
    base) echo "${BASE_TANDEM:?set BASE_TANDEM to the command of the build to compare with}" ;;
    *) echo "error: unknown configuration $1 (see --help)" >&2; exit 2 ;;
  esac
}
for v in $VARIANTS; do variant_command "$v" >/dev/null; done

echo "$(date -u +%FT%TZ), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-), $(nproc) cores, load average $(loadavg)"
echo "$MODEL, $(wc -w < "$PROMPT_FILE")-word prompt, $N tokens, $THREADS threads, a new process per run"
printf '| round | configuration | prefill tok/s | decode tok/s | wall s | cpu s | peak MiB |\n|---:|---|---:|---:|---:|---:|---:|\n'
read -r -a order <<< "$VARIANTS"
for round in $(seq 1 "$ROUNDS"); do
  for v in "${order[@]}"; do
    read -r pp tg wall cpu peak < <(generate_timed "$OUT/round-$round.$v.log" $(variant_command "$v") \
      generate -m "$MODEL" -p "$(cat "$PROMPT_FILE")" -n "$N" -t "$THREADS" --temperature 0 --ignore-eos)
    echo "$v $pp $tg $wall $cpu $peak" >> "$OUT/runs.txt"
    printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$round" "$v" "$pp" "$tg" "$wall" "$cpu" "$peak"
  done
  order=("${order[@]:1}" "${order[0]}") # rotate: each configuration takes each place in turn
done
echo "load average after: $(loadavg)"
for v in $VARIANTS; do
  for col in 2 3 4 5 6; do
    awk -v v="$v" -v c="$col" '$1 == v {print $c}' "$OUT/runs.txt" | median
  done | tr '\n' ' ' | awk -v v="$v" '{printf "median %s: prefill %s tok/s, decode %s tok/s, wall %s s, cpu %s s, peak %s MiB\n", v, $1, $2, $3, $4, $5}'
done

if [ "$WARM" = 1 ]; then
  dotnet build bench/Tandem.Bench -c Release -v q -nologo >/dev/null
  echo "warm (Tandem.Bench engine, after a warm-up run in the same process; load average $(loadavg)):"
  dotnet bench/Tandem.Bench/bin/Release/net10.0/Tandem.Bench.dll engine "$MODEL" --no-bundle --threads "$THREADS" \
    --pp "$PP" --tg "$N" --reps 3 | grep '^|'
fi
