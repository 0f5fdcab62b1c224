#!/usr/bin/env python3
"""Many-core scaling: CNNKit against PyTorch at 1, 2, 4, 8, 16 threads, interleaved.

For the 16-core targets of CPU performance part 2 (AlexNet b1, b32, train b128; ResNet-18 b1 and
train b64), meant for the GPU machine's host CPU (its `python3` has torch and torchvision; ONNX
Runtime is not needed). For each configuration and thread count it alternates CNNKit and PyTorch
(`Benchmarks/compare.py`'s workers, each in a fresh process), then prints images/s, the ratio, and
each framework's speed-up over its own 1-thread figure. CI does not run this.

    python3 Benchmarks/thread_scaling.py [--threads 1,2,4,8,16] [--rounds 3] [--config alexnet:infer:32 ...]
"""
import argparse
import os
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import ROOT, run_cnnkit, run_python  # noqa: E402

CONFIGS = ["alexnet:infer:1", "alexnet:infer:32", "alexnet:train:128", "resnet18:infer:1", "resnet18:train:64"]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", action="append", help="MODEL:MODE:BATCH (repeatable)")
    parser.add_argument("--threads", default="1,2,4,8,16")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--python", default=sys.executable, help="interpreter with torch and torchvision")
    parser.add_argument("--cnnkit", default=os.path.join(ROOT, ".build", "release", "cnnkit"))
    args = parser.parse_args()
    scratch = tempfile.mkdtemp(prefix="cnnkit-scaling-")
    counts = [int(t) for t in args.threads.split(",")]
    print(f"{'configuration':20} {'threads':>7} {'CNNKit':>9} {'PyTorch':>9} {'ratio':>6} {'CNNKit ×1':>9} {'PyTorch ×1':>10}")
    for config in args.config or CONFIGS:
        model, mode, batch = config.split(":")
        base = {}
        for threads in counts:
            ours, theirs = [], []
            for _ in range(args.rounds):
                ours.append(run_cnnkit(args.cnnkit, model, mode, batch, threads, args.iterations,
                                       args.warmup)["img_s_median"])
                theirs.append(run_python(args.python, "pytorch", model, mode, batch, threads, args.iterations,
                                         args.warmup, scratch)["img_s_median"])
            a, b = statistics.median(ours), statistics.median(theirs)
            base.setdefault("cnnkit", a)
            base.setdefault("pytorch", b)
            print(f"{config:20} {threads:7d} {a:9.1f} {b:9.1f} {a / b:6.2f} {a / base['cnnkit']:9.2f} "
                  f"{b / base['pytorch']:10.2f}", flush=True)


if __name__ == "__main__":
    main()
