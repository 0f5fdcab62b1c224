#!/usr/bin/env bash
# Data-parallel training across two "hosts" on this machine: two network namespaces joined by a veth
# pair, one MPI rank in each, talking TCP over the pair only. Checks that the two-rank run's weights
# agree with one process trained with the same flags, then limits the link with tc's tbf qdisc (1 and
# 10 Gbit/s) and reports the gradient-exchange time. Needs root, iproute2, tc and Open MPI; removes
# the namespaces (and with them the veth pair) on exit, whatever happens.
#
#   sudo bash Scripts/netns-mpi.sh [path/to/cnnkit]     (default: .build/release/cnnkit)
set -euo pipefail
cd "$(dirname "$0")/.."
cnnkit=$(realpath "${1:-.build/release/cnnkit}")
[ -x "$cnnkit" ] || { echo "error: $cnnkit not built (swift build -c release)"; exit 1; }
command -v mpirun >/dev/null || { echo "error: mpirun not found (apt-get install openmpi-bin libopenmpi-dev)"; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "error: network namespaces need root"; exit 1; }

a=cnnkit-ns-a b=cnnkit-ns-b net=10.77.0 work=$(mktemp -d)
cleanup() {
  ip netns del "$a" 2>/dev/null || true
  ip netns del "$b" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
cleanup && work=$(mktemp -d)

ip netns add "$a"
ip netns add "$b"
ip link add veth-a type veth peer name veth-b
ip link set veth-a netns "$a"
ip link set veth-b netns "$b"
ip -n "$a" addr add "$net.1/24" dev veth-a
ip -n "$b" addr add "$net.2/24" dev veth-b
for ns in "$a" "$b"; do ip -n "$ns" link set lo up; done
ip -n "$a" link set veth-a up
ip -n "$b" link set veth-b up

# Open MPI starts remote daemons as `AGENT HOST command…` (as ssh would); this agent runs the command
# in the namespace that owns HOST's address instead.
cat >"$work/agent" <<AGENT
#!/bin/sh
host=\$1; shift
case "\$host" in $net.1) ns=$a ;; $net.2) ns=$b ;; *) echo "agent: unknown host \$host" >&2; exit 1 ;; esac
exec ip netns exec "\$ns" /bin/sh -c "\$*"
AGENT
chmod +x "$work/agent"

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl_vader_single_copy_mechanism=none
across() {
  ip netns exec "$a" mpirun --mca plm_rsh_agent "$work/agent" --mca btl tcp,self \
    --mca btl_tcp_if_include "$net.0/24" --mca oob_tcp_if_include "$net.0/24" \
    --host "$net.1,$net.2" -np 2 "$cnnkit" "$@"
}

# The same flags on one process and on two namespaces: the weights agree (examples/distributed/ holds
# nets without max-pool ties, where only the order of sums differs).
for spec in "dropout-net.json" "batchnorm-net.json --sync-bn"; do
  read -r model sync <<<"$spec"
  flags=(train --model "examples/distributed/$model" $sync --batch-size 16 --max-steps 20 --threads 1 --workers 1
    --no-validation)
  "$cnnkit" "${flags[@]}" --output-dir "$work/one" --overwrite >/dev/null
  across "${flags[@]}" --output-dir "$work/two" --overwrite >"$work/two.log"
  grep -E "^Training" "$work/two.log"
  tr '\r' '\n' <"$work/two.log" | grep -oE "Gradient exchange.*"
  python3 Scripts/compare-weights.py "$work/one/model.safetensors" "$work/two/model.safetensors" 1e-5
done

# The exchange time at limited rates (and with no limit). tbf shapes what leaves each end, so both
# directions get it.
for rate in none 10gbit 1gbit; do
  if [ "$rate" != none ]; then
    ip netns exec "$a" tc qdisc replace dev veth-a root tbf rate "$rate" burst 4mb latency 100ms
    ip netns exec "$b" tc qdisc replace dev veth-b root tbf rate "$rate" burst 4mb latency 100ms
  fi
  for model in alexnet-cifar alexnet; do
    extra=()
    [ "$model" = alexnet ] && extra=(--resize 224)
    across train --model "$model" "${extra[@]}" --batch-size 16 --max-steps 6 --threads 1 --workers 1 \
      --no-validation --output-dir "$work/$model-$rate" >"$work/$model-$rate.log"
    echo "link $rate, $model, 6 steps of batch 16: $(tr '\r' '\n' <"$work/$model-$rate.log" | grep -oE 'Gradient exchange.*')"
  done
done
echo "netns-mpi: passed"
