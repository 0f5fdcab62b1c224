#!/usr/bin/env python3
"""Round trip of real torchvision weights through CNNKit, both ways (a developer check, not CI).

1. torchvision alexnet / vgg11_bn / resnet18 state dicts saved with safetensors.torch.save_file are
   loaded by `cnnkit forward` without renaming; its logits are compared with PyTorch's.
2. `cnnkit export` writes CNNKit's own initialisation; torchvision loads it with strict=True.

Usage (after `swift build -c release`):
    ../venv/bin/python Tests/Fixtures/compare_with_pytorch.py [path/to/cnnkit]
"""
import os
import subprocess
import sys
import tempfile

import torch
import torchvision
from safetensors.torch import load_file, save_file

CNNKIT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..", ".build", "release", "cnnkit")


def main():
    torch.manual_seed(0)
    folder = tempfile.mkdtemp(prefix="cnnkit-compare-")
    worst = 0.0
    for name, size in [("alexnet", 224), ("vgg11_bn", 64), ("resnet18", 64)]:
        model = getattr(torchvision.models, name)().eval()
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                # Non-trivial running statistics, so eval-mode BN is really exercised.
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 1.5)
        weights, inputs, outputs = (os.path.join(folder, f"{name}_{k}.safetensors") for k in ("w", "in", "out"))
        save_file(model.state_dict(), weights)
        x = torch.randn(2, 3, size, size)
        save_file({"input": x}, inputs)
        with torch.no_grad():
            expected = model(x)
        subprocess.run([CNNKIT, "forward", "--model", name, "--weights", weights, "--input", inputs,
                        "--output", outputs], check=True)
        got = load_file(outputs)["output"]
        relative = ((got - expected).abs().max() / expected.abs().max()).item()
        worst = max(worst, relative)
        print(f"{name}: torchvision weights -> CNNKit logits, max relative difference {relative:.2e}")

        exported = os.path.join(folder, f"{name}_cnnkit.safetensors")
        subprocess.run([CNNKIT, "export", "--model", name, "--output", exported], check=True)
        result = getattr(torchvision.models, name)().load_state_dict(load_file(exported), strict=True)
        print(f"{name}: CNNKit weights -> torchvision load_state_dict(strict=True): {result}")
    if worst > 1e-4:
        sys.exit(f"logits differ by {worst:.2e} (> 1e-4)")


if __name__ == "__main__":
    main()
