#!/usr/bin/env bash
# Reproduces docs/experiments/scale-out.md in one command:
#  1. KV transfer per request (bench/scale-out/kv-transfer.cs) for 128, 512 and 2048-token prompts on the SmolLM-135M
#     and TinyLlama-1.1B shapes (synthesized when missing), over every path: in process, shared memory (/dev/shm),
#     gRPC over loopback, and gRPC between a prefill and a decode worker process in two network namespaces joined by a
#     veth pair, unshaped and shaped by `tc` to 1 Gbit/s (skipped, saying so, where namespaces cannot be made: needs
#     root). Transfer time, throughput, end-to-end latency and the transfer's share of it, per request, in JSON.
#  2. Goodput of 1 prefill + 1 decode worker as processes (frontend + 2 workers) against the in-process disaggregated
#     runtime, on the workload of docs/experiments/disaggregation-on-cpu.md: bench/experiments/scale-out-goodput.sh,
#     into OUT_DIR/goodput (its own knobs: see its --help).
#
#   bench/experiments/scale-out.sh [OUT_DIR]
#
# Knobs (environment): MODELS (space-separated PATH:PRESET, default the SmolLM-135M shape and the TinyLlama-1.1B shape,
# Q8_0, each synthesized when missing, TinyLlama's into artifacts/s5-scaleout/models), LENGTHS (128,512,2048), REPEATS (3),
# OUTPUT (32 output tokens per transfer request), PATHS (in-process grpc-loopback shm netns netns-1gbit; each but
# in-process also as PATH+overlap, the frontend's --kv-overlap), LINK_RATE
# (1gbit), PORT, SKIP_TRANSFER=1, SKIP_GOODPUT=1. The load average goes beside every result.
set -euo pipefail
case ${1:-} in -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;; esac
cd "$(dirname "$0")/../.."
. bench/experiments/lib.sh
OUT=${1:-docs/experiments/scale-out}
MODELS=${MODELS:-artifacts/models/smollm-135m-q8_0.gguf:smollm-135m artifacts/s5-scaleout/models/tinyllama-1.1b-q8_0.gguf:tinyllama-1.1b}
LENGTHS=${LENGTHS:-128,512,2048}
REPEATS=${REPEATS:-3}
export OUTPUT=${OUTPUT:-32}
PATHS=${PATHS:-in-process grpc-loopback shm netns netns-1gbit}
LINK_RATE=${LINK_RATE:-1gbit}
PORT=${PORT:-8123}
export TANDEM_CLUSTER_TOKEN=scale-out-bench
mkdir -p "$OUT"
tandem_build
dotnet build src/Tandem.Server -c Release -v q -nologo >/dev/null

# Network namespaces "p" (prefill worker) and "d" (decode worker) joined by a veth pair (10.S.2.1 <-> 10.S.2.2), and a
# veth from here into "p" (10.S.1.1 <-> 10.S.1.2) with forwarding inside "p", so this process (the frontend) reaches
# both workers while the KV goes from "p" to "d" over the pair. RATE shapes both ends of the pair with tbf.
NETNS=()
netns_up() { # name, subnet octet, [rate]
  local n=$1 s=$2 rate=${3:-}
  ip netns add "$n-p" && NETNS+=("$n-p") && ip netns add "$n-d" && NETNS+=("$n-d") || return 1
  ip link add "$n-r" type veth peer name "$n-f" netns "$n-p" &&
  ip link add "$n-vp" netns "$n-p" type veth peer name "$n-vd" netns "$n-d" &&
  ip addr add "10.$s.1.1/24" dev "$n-r" && ip link set "$n-r" up &&
  ip -n "$n-p" addr add "10.$s.1.2/24" dev "$n-f" && ip -n "$n-p" link set "$n-f" up &&
  ip -n "$n-p" addr add "10.$s.2.1/24" dev "$n-vp" && ip -n "$n-p" link set "$n-vp" up &&
  ip -n "$n-d" addr add "10.$s.2.2/24" dev "$n-vd" && ip -n "$n-d" link set "$n-vd" up &&
  ip -n "$n-p" link set lo up && ip -n "$n-d" link set lo up &&
  ip route add "10.$s.2.0/24" via "10.$s.1.2" dev "$n-r" &&
  ip netns exec "$n-p" sysctl -qw net.ipv4.ip_forward=1 &&
  ip -n "$n-d" route add "10.$s.1.0/24" via "10.$s.2.1" || return 1
  if [ -n "$rate" ]; then
    tc -n "$n-p" qdisc add dev "$n-vp" root tbf rate "$rate" burst 1mb latency 50ms &&
    tc -n "$n-d" qdisc add dev "$n-vd" root tbf rate "$rate" burst 1mb latency 50ms || return 1
  fi
}
netns_down() { local n; for n in "${NETNS[@]:-}"; do [ -n "$n" ] && ip netns del "$n" 2>/dev/null || true; done; NETNS=(); }
trap 'stop_servers; netns_down' EXIT

transfer() { # model path
  local model=$1 name args=() p s=0 port
  name=$(basename "$model" .gguf)
  local worker=(serve --model "$model" --kv-type f16 --kv-memory 512MiB --ctx-size $(( ${LENGTHS##*,} + OUTPUT + 16 )))
  for p in $PATHS; do
    case $p in
      in-process|grpc-loopback|shm|grpc-loopback+overlap|shm+overlap) args+=("$p") ;;
      netns|netns-1gbit|netns+overlap|netns-1gbit+overlap)
        s=$((s + 1)); port=$((PORT + 10 + s))
        local rate=; [ "${p%+overlap}" = netns-1gbit ] && rate=$LINK_RATE
        if ! netns_up "ts$s" "$((200 + s))" "$rate" 2>"$OUT/$p.netns.err"; then
          echo "SKIP $p: cannot create network namespaces here ($(tr '\n' ' ' < "$OUT/$p.netns.err"))" | tee -a "$OUT/skipped.txt"; netns_down; continue
        fi
        start_server "$OUT/$name.$p.prefill.log" ip netns exec "ts$s-p" $TANDEM "${worker[@]}" --role prefill --cores 0 --host "10.$((200 + s)).2.1" --port "$port"
        wait_ready "http://10.$((200 + s)).2.1:$port" "$p prefill worker" /health/ready
        start_server "$OUT/$name.$p.decode.log" ip netns exec "ts$s-d" $TANDEM "${worker[@]}" --role decode --cores 1 --host "10.$((200 + s)).2.2" --port "$port"
        wait_ready "http://10.$((200 + s)).2.2:$port" "$p decode worker" /health/ready
        args+=("$p=10.$((200 + s)).2.1:$port/10.$((200 + s)).2.2:$port") ;;
      *) echo "unknown path $p" >&2; exit 2 ;;
    esac
  done
  echo "$name: load average before $(loadavg)" | tee -a "$OUT/load.txt"
  dotnet run -c Release bench/scale-out/kv-transfer.cs -- "$model" "$OUT/kv-transfer-$name.json" "$LENGTHS" "$REPEATS" "${args[@]}" | tee "$OUT/kv-transfer-$name.txt"
  echo "$name: load average after $(loadavg)" | tee -a "$OUT/load.txt"
  stop_servers
  netns_down
}

if [ -z "${SKIP_TRANSFER:-}" ]; then
  for m in $MODELS; do
    ensure_model "${m%%:*}" "${m##*:}" q8_0
    transfer "${m%%:*}"
  done
fi
[ -n "${SKIP_GOODPUT:-}" ] && exit 0
trap - EXIT
stop_servers; netns_down
PORT=$PORT bench/experiments/scale-out-goodput.sh "$OUT/goodput"
