#!/bin/bash
# Training on the GPU, end to end, and first throughput figures against PyTorch on the same GPU.
# Here: ../shared/bench/gpu_bundle.sh; mkdir -p .gpu/data && cp -r ../shared/datasets/mnist .gpu/data/
# There (from the project root): bash Benchmarks/gpu_train_check.sh
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
data=$root/.gpu/data
run() { bash "$root/.gpu/on_gpu.sh" ./cnnkit "$@"; }
status=0
echo "== LeNet-5 on MNIST (60,000 / 10,000), cuda"
run train --model lenet5 --dataset mnist --data-dir "$data/mnist" --device cuda --epochs 8 -b 64 --lr 0.02 \
  --lr-step-size 4 -j 8 --output-dir /tmp/lenet-cuda || status=1
echo "== stop at step 300, then --resume"
run train --model lenet5 --dataset mnist --data-dir "$data/mnist" --device cuda --epochs 1 -b 64 -j 8 \
  --max-steps 300 --output-dir /tmp/lenet-resume --no-validation | tail -n 2 || status=1
run train --model lenet5 --dataset mnist --data-dir "$data/mnist" --device cuda --epochs 1 -b 64 -j 8 \
  --resume /tmp/lenet-resume --output-dir /tmp/lenet-resume | tail -n 4 || status=1
echo "== the NaN guard on the GPU (lr 1e6 must stop the run with one error line, exit 1)"
run train --model lenet5 --dataset mnist --data-dir "$data/mnist" --device cuda --epochs 1 -b 64 -j 8 \
  --lr 1e6 --output-dir /tmp/lenet-nan --no-validation 2>&1 | grep -E "error|Epoch 1" | tail -n 1
echo "== eval on cuda of the trained weights"
run eval --model lenet5 --dataset mnist --data-dir "$data/mnist" --weights /tmp/lenet-cuda/model.safetensors \
  --device cuda | head -n 3 || status=1
echo "== bench, CNNKit then PyTorch (fp32, TF32 off)"
run bench --device cuda --model alexnet --mode train --batch 128 --iterations 10 --warmup 3 | grep '^{' || status=1
python3 "$root/.gpu/gpu_anchor.py" one alexnet train 128 fp32
run bench --device cuda --precision tf32 --model alexnet --mode train --batch 128 --iterations 10 --warmup 3 \
  | grep '^{' || status=1
python3 "$root/.gpu/gpu_anchor.py" one alexnet train 128 tf32
run bench --device cuda --model alexnet --mode infer --batch 1,32 --iterations 20 --warmup 3 | grep '^{' || status=1
python3 "$root/.gpu/gpu_anchor.py" one alexnet infer 1 fp32
python3 "$root/.gpu/gpu_anchor.py" one alexnet infer 32 fp32
run bench --device cuda --model lenet5 --mode train --batch 64 --iterations 50 --warmup 5 | grep '^{' || status=1
python3 "$root/.gpu/gpu_anchor.py" one lenet5 train 64 fp32
run bench --device cuda --model resnet18 --mode infer --batch 1 --iterations 30 --warmup 5 | grep '^{' || status=1
python3 "$root/.gpu/gpu_anchor.py" one resnet18 infer 1 fp32
run bench --device cuda --model vgg16 --mode infer --batch 1 --iterations 30 --warmup 5 | grep '^{' || status=1
python3 "$root/.gpu/gpu_anchor.py" one vgg16 infer 1 fp32
echo "exit $status"
exit $status
