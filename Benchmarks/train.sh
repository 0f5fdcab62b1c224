#!/usr/bin/env bash
# Training benchmarks for the data-and-training issue: accuracy and wall time on real data.
# Not run by CI (each takes minutes). Usage: Benchmarks/train.sh [lenet|alexnet-mnist|alexnet-cifar|default]...
# Reads the datasets from ../shared/datasets (MNIST, CIFAR-10); outputs go to runs/bench-*.
set -euo pipefail
cd "$(dirname "$0")/.."
shared=${SHARED:-../shared/datasets}
swift build -c release >/dev/null
cnnkit=.build/release/cnnkit

run() {
  local name=$1
  shift
  echo "== $name: $*"
  /usr/bin/time -f "wall %e s, max RSS %M KiB" "$cnnkit" train --output-dir "runs/bench-$name" "$@" |
    grep -E "validation|Epoch|Done|Training"
}

for job in "${@:-lenet alexnet-mnist alexnet-cifar default}"; do
  for j in $job; do
    case $j in
      lenet) run lenet --model lenet5 --dataset mnist --data-dir "$shared/mnist" --epochs 12 -b 64 --lr 0.02 \
        --lr-scheduler step --lr-step-size 8 ;;
      alexnet-mnist) run alexnet-mnist --model alexnet-mnist --dataset mnist --data-dir "$shared/mnist" --epochs 10 \
        -b 64 --lr 0.02 --lr-scheduler step --lr-step-size 7 ;;
      alexnet-cifar) run alexnet-cifar --model alexnet-cifar --dataset cifar10 --data-dir "$shared/cifar-10" \
        --epochs 15 -b 128 --lr 0.05 --lr-scheduler cosine ;;
      default) run default ;;
      *) echo "unknown benchmark $j" >&2; exit 2 ;;
    esac
  done
done
