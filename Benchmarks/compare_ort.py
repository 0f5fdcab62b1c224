#!/usr/bin/env python3
"""Inference side by side: CNNKit against ONNX Runtime on CNNKit's own ONNX export (no PyTorch needed).

Exports the model with `cnnkit export --format onnx`, then runs `cnnkit bench --mode infer` and ONNX
Runtime (intra-op spinning off, the same thread count) alternately, each in a fresh process per round,
and prints the medians and the ratio. CI does not run this. Needs `pip install onnxruntime numpy`.

    python3 Benchmarks/compare_ort.py [--model resnet18] [--batch 1] [--rounds 5] [--threads 2]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ORT_WORKER = r"""
import statistics, sys, time, numpy as np, onnxruntime as ort
path, shape, threads, iterations, warmup = sys.argv[1], [int(v) for v in sys.argv[2].split(",")], *map(int, sys.argv[3:6])
options = ort.SessionOptions()
options.intra_op_num_threads = threads
options.inter_op_num_threads = 1
options.add_session_config_entry("session.intra_op.allow_spinning", "0")
session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
feed = {session.get_inputs()[0].name: np.random.default_rng(0).standard_normal(shape, dtype=np.float32)}
for _ in range(warmup):
    session.run(None, feed)
rates = []
for _ in range(iterations):
    start = time.perf_counter()
    session.run(None, feed)
    rates.append(shape[0] / (time.perf_counter() - start))
print(statistics.median(rates))
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--python", default=sys.executable, help="interpreter with onnxruntime and numpy")
    parser.add_argument("--cnnkit", default=os.path.join(ROOT, ".build", "release", "cnnkit"))
    args = parser.parse_args()
    path = os.path.join(tempfile.mkdtemp(prefix="cnnkit-ort-"), f"{args.model}.onnx")
    subprocess.run([args.cnnkit, "export", "--model", args.model, "--format", "onnx", "--output", path],
                   check=True, capture_output=True)
    listing = subprocess.run([args.cnnkit, "list"], check=True, capture_output=True, text=True).stdout
    chw = next(line.rsplit("[input ", 1)[1].rstrip("]") for line in listing.splitlines()
               if line.split() and line.split()[0] == args.model)
    shape = f"{args.batch}," + chw.replace("×", ",").replace("x", ",")
    ours, theirs = [], []
    for _ in range(args.rounds):
        out = subprocess.run(
            [args.cnnkit, "bench", "--model", args.model, "--mode", "infer", "--batch", str(args.batch),
             "--threads", str(args.threads), "--iterations", str(args.iterations), "--warmup", str(args.warmup)],
            check=True, capture_output=True, text=True).stdout
        ours.append(json.loads([line for line in out.splitlines() if line.startswith("{")][-1])["img_s_median"])
        theirs.append(float(subprocess.run(
            [args.python, "-c", ORT_WORKER, path, shape, str(args.threads), str(args.iterations), str(args.warmup)],
            check=True, capture_output=True, text=True).stdout))
    print(f"{args.model} inference, batch {args.batch}, {args.threads} threads, {args.rounds} alternating rounds")
    print(f"  CNNKit       {statistics.median(ours):8.1f} img/s  rounds {[round(v, 1) for v in ours]}")
    print(f"  ONNX Runtime {statistics.median(theirs):8.1f} img/s  rounds {[round(v, 1) for v in theirs]}")
    print(f"  CNNKit ÷ ORT {statistics.median(ours) / statistics.median(theirs):.2f}")


if __name__ == "__main__":
    main()
