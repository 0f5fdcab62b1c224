#!/bin/bash
# The GPU checks of "GPU, part 1", run on a machine with an NVIDIA GPU, PyTorch and torchvision:
#   ../shared/bench/gpu_bundle.sh          (here: packs a static cnnkit into .gpu/)
#   bash Benchmarks/gpu_check.sh           (there, from the project root)
# 1. `cnnkit doctor --device cuda`: every op forward and backward against the CPU.
# 2. `cnnkit forward --device cuda` on torchvision alexnet, vgg11_bn and resnet18 with random weights
#    (saved by safetensors.torch.save_file) against `--device cpu` and against PyTorch itself, and
#    alexnet-paper (groups, LRN) with CNNKit's own initialisation against the CPU.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
work=/tmp/gpu_check
mkdir -p "$work"
run() { bash "$root/.gpu/on_gpu.sh" ./cnnkit "$@"; }
echo "== doctor"
run doctor --device cuda
doctor=$?
echo "== forward"
python3 - "$work" <<'PY'
import sys, torch, torchvision
from safetensors.torch import save_file
work = sys.argv[1]
torch.manual_seed(0)
save_file({"input": torch.randn(2, 3, 224, 224)}, f"{work}/input224.safetensors")
save_file({"input": torch.randn(2, 3, 227, 227)}, f"{work}/input227.safetensors")
x = torch.randn(2, 3, 224, 224)
from safetensors.torch import load_file
x = load_file(f"{work}/input224.safetensors")["input"]
for name in ["alexnet", "vgg11_bn", "resnet18"]:
    m = getattr(torchvision.models, name)(weights=None).eval()
    for mod in m.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.1, 0.1); mod.running_var.uniform_(0.5, 1.5)
            mod.weight.data.uniform_(0.5, 1.5); mod.bias.data.uniform_(-0.1, 0.1)
    save_file({k: v.contiguous() for k, v in m.state_dict().items()}, f"{work}/{name}.safetensors")
    with torch.no_grad():
        save_file({"output": m(x)}, f"{work}/{name}.torch.safetensors")
PY
status=0
for name in alexnet vgg11_bn resnet18; do
  for device in cpu cuda; do
    run forward --model $name --weights "$work/$name.safetensors" --input "$work/input224.safetensors" \
      --output "$work/$name.$device.safetensors" --device $device || status=1
  done
done
run export --model alexnet-paper --output "$work/alexnet-paper.safetensors" || status=1
for device in cpu cuda; do
  run forward --model alexnet-paper --weights "$work/alexnet-paper.safetensors" \
    --input "$work/input227.safetensors" --output "$work/alexnet-paper.$device.safetensors" --device $device || status=1
done
python3 - "$work" <<'PY' || status=1
import sys
from safetensors.torch import load_file
work, bad = sys.argv[1], False
def rel(a, b): return ((a - b).abs().max() / b.abs().max()).item()
for name in ["alexnet", "vgg11_bn", "resnet18", "alexnet-paper"]:
    cpu = load_file(f"{work}/{name}.cpu.safetensors")["output"]
    cuda = load_file(f"{work}/{name}.cuda.safetensors")["output"]
    line = f"{name:14s} cuda vs cpu {rel(cuda, cpu):.2e}"
    bad |= not rel(cuda, cpu) <= 1e-4
    if name != "alexnet-paper":
        ref = load_file(f"{work}/{name}.torch.safetensors")["output"]
        line += f"   cuda vs torch {rel(cuda, ref):.2e}   cpu vs torch {rel(cpu, ref):.2e}"
        bad |= not rel(cuda, ref) <= 1e-4
    print(line)
sys.exit(1 if bad else 0)
PY
echo "doctor exit $doctor, forward comparison exit $status"
exit $((doctor | status))
