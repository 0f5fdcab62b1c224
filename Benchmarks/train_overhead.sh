#!/bin/bash
# What `cnnkit train` loses to everything around the step (data, metrics, the NaN guard, the bar):
# its epoch img/s against `cnnkit bench --mode train` (the bare step on random data), interleaved
# round by round so both see the same machine. Real data from ../shared/datasets.
#   bash Benchmarks/train_overhead.sh [rounds] [cnnkit binary]
# Prints one line per run and, per model, the median over rounds of train's epoch img/s divided by
# bench's median-step img/s and by bench's sustained img/s (all timed images over all timed seconds,
# which is what an epoch's figure is).
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
    json=$("$cnnkit" bench --model "$model" --batch "$batch" --iterations "$steps" --warmup 3 --peak 1 | grep '^{')
    median=$(sed 's/.*"img_s_median":\([0-9.]*\).*/\1/' <<<"$json")
    mean=$(sed 's/.*"img_s_mean":\([0-9.]*\).*/\1/' <<<"$json")
    t=$("$cnnkit" train --model "$model" --dataset "$dataset" --data-dir "$dir" -b "$batch" --epochs 1 \
      --train-subset "$images" --val-subset "$batch" --output-dir "$out/run" --overwrite |
      sed -n 's/.* - \([0-9.]*\) img\/s.*/\1/p' | tail -1)
    printf '%s b%s round %s: bench median %.0f mean %.0f img/s, train %s img/s, ratio %.3f (to median) %.3f (to mean)\n' \
      "$model" "$batch" "$r" "$median" "$mean" "$t" "$(echo "$t / $median" | bc -l)" "$(echo "$t / $mean" | bc -l)"
  done
done | tee "$out/log"
# Medians over rounds of each ratio.
for m in $(awk '{ print $1 "_" $2 }' "$out/log" | sort -u); do
  rows=$(grep "^${m/_/ } " "$out/log")
  n=$(echo "$rows" | wc -l)
  middle() { sort -n | sed -n "$(((n + 1) / 2))p"; }
  toMedian=$(echo "$rows" | sed 's/.*ratio \([0-9.]*\) (to median).*/\1/' | middle)
  toMean=$(echo "$rows" | sed 's/.*(to median) \([0-9.]*\) (to mean).*/\1/' | middle)
  echo "${m/_/ }: train/bench median over $n rounds: $toMedian of bench's median step, $toMean of its sustained rate"
done
