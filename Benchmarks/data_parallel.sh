#!/usr/bin/env bash
# One machine, two ways to use its cores: 1 process × T threads against N processes (mpirun) × T/N
# threads, on the same global batch; interleaved rounds, img/s as the progress bar reports it at the
# last step (rank 0's, counting every rank's images), and the gradient-exchange share of the run.
#
#   bash Benchmarks/data_parallel.sh [ROUNDS] [RANKS]      (defaults 3 and 2; needs Open MPI)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
ranks=${2:-2}
cores=$(nproc)
cnnkit=.build/release/cnnkit
[ -x "$cnnkit" ] || swift build -c release >/dev/null
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl_vader_single_copy_mechanism=none
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# model | extra flags | steps
configs=(
  "alexnet-cifar||30"
  "alexnet|--resize 224|6"
)
rate() { tr '\r' '\n' <"$1" | grep -oE '[0-9.]+ img/s' | tail -1 | cut -d' ' -f1; }

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
for config in "${configs[@]}"; do
  IFS='|' read -r model extra steps <<<"$config"
  for round in $(seq "$rounds"); do
    flags=(train --model "$model" $extra --batch-size 128 --max-steps "$steps" --workers 1 --no-validation
      --overwrite)
    # `script` gives the single process a terminal, so its progress bar reports every step as mpirun's does.
    script -qc "$cnnkit ${flags[*]} --threads $cores --output-dir $work/one" /dev/null >"$work/one.log"
    mpirun --oversubscribe -np "$ranks" "$cnnkit" "${flags[@]}" --threads $((cores / ranks > 0 ? cores / ranks : 1)) \
      --output-dir "$work/many" >"$work/many.log"
    one=$(rate "$work/one.log")
    many=$(rate "$work/many.log")
    share=$(tr '\r' '\n' <"$work/many.log" | grep -oE 'waited [0-9.]+ s of [0-9.]+ s \([0-9]+%' | grep -oE '[0-9]+%' || true)
    printf '%s b128 round %d: 1 × %d threads %s img/s, %d ranks × %d threads %s img/s (ratio %.2f), rank 0 waited for exchanges %s of the run\n' \
      "$model" "$round" "$cores" "$one" "$ranks" $((cores / ranks)) "$many" \
      "$(echo "$many / $one" | bc -l)" "${share:-?}"
  done
done
