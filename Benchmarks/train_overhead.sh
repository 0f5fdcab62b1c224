#!/bin/bash
# What `cnnkit train` loses to everything around the step (data, metrics, the NaN guard, the bar):
# its epoch img/s against `cnnkit bench --mode train` (the bare step on random data), interleaved
# round by round so both see the same machine. Real data from ../shared/datasets.
#   bash Benchmarks/train_overhead.sh [rounds] [cnnkit binary]
# Prints one line per run and the median ratio train/bench per model.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
rounds=${1:-3}
cnnkit=${2:-$root/.build/release/cnnkit}
data=$root/../shared/datasets
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# model dataset batch images: ~10 s of training per run at today's speed.
cases=("alexnet-mnist mnist 32 9600" "alexnet-cifar cifar10 128 3840")
for c in "${cases[@]}"; do
  read -r model dataset batch images <<<"$c"
  dir=$data/$([ "$dataset" = cifar10 ] && echo cifar-10 || echo "$dataset")
  steps=$((images / batch))
  for r in $(seq "$rounds"); do
    b=$("$cnnkit" bench --model "$model" --batch "$batch" --iterations "$steps" --warmup 3 --peak 1 |
      awk -v b="$batch" '$1 == b { print $2 }')
    t=$("$cnnkit" train --model "$model" --dataset "$dataset" --data-dir "$dir" -b "$batch" --epochs 1 \
      --train-subset "$images" --val-subset "$batch" --output-dir "$out/run" --overwrite |
      sed -n 's/.* - \([0-9.]*\) img\/s.*/\1/p' | tail -1)
    echo "$model b$batch round $r: bench $b img/s, train $t img/s, ratio $(echo "$t / $b" | bc -l | cut -c1-5)"
  done
done | tee "$out/log"
for m in $(awk '{ print $1 "_" $2 }' "$out/log" | sort -u); do
  ratios=$(grep "^${m/_/ } " "$out/log" | sed 's/.*ratio //' | sort -n)
  n=$(echo "$ratios" | wc -l)
  echo "${m/_/ }: median ratio train/bench $(echo "$ratios" | sed -n "$(((n + 1) / 2))p") over $n rounds"
done
