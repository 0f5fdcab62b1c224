#!/usr/bin/env python3
"""Exports every zoo model (or those named) to ONNX with `cnnkit export --format onnx`, checks the file
with onnx.checker, runs it in ONNX Runtime and compares the logits with `cnnkit forward` on the same
input and weights. Not run by CI; needs `pip install onnx onnxruntime safetensors numpy`.

    python3 Scripts/check-onnx.py [--cnnkit .build/release/cnnkit] [MODEL ...]

Batch-norm running statistics and affine parameters are randomised first (fresh ones are 0/1, which
would hide a wrong mapping). Prints one line per model; exits non-zero if any differs by more than
1e-4 of the largest logit.
"""
import argparse, os, subprocess, sys, tempfile
import numpy as np
import onnx, onnxruntime
from safetensors.numpy import load_file, save_file

parser = argparse.ArgumentParser()
parser.add_argument("--cnnkit", default=os.path.join(os.path.dirname(__file__), "..", ".build/release/cnnkit"))
parser.add_argument("--batch", type=int, default=2)
parser.add_argument("--fold-bn", action="store_true", help="export with --fold-bn")
parser.add_argument("models", nargs="*")
args = parser.parse_args()

def cnnkit(*argv):
    return subprocess.run([args.cnnkit, *argv], check=True, capture_output=True, text=True).stdout

listing = [line.split()[0] for line in cnnkit("list").splitlines() if line.strip()]
inputs = {line.split()[0]: line.rsplit("[input ", 1)[1].rstrip("]") for line in cnnkit("list").splitlines() if "[input " in line}
models = args.models or listing
rng = np.random.default_rng(0)
failures = 0
with tempfile.TemporaryDirectory() as work:
    for name in models:
        weights = f"{work}/{name}.safetensors"
        cnnkit("export", "--model", name, "--output", weights)
        state = load_file(weights)
        for key in state:
            if key.endswith("running_mean"):
                state[key] = rng.normal(0, 0.1, state[key].shape).astype(np.float32)
            elif key.endswith("running_var"):
                state[key] = rng.uniform(0.5, 1.5, state[key].shape).astype(np.float32)
            elif key.replace("weight", "running_var") in state and key.endswith("weight"):
                state[key] = rng.uniform(0.5, 1.5, state[key].shape).astype(np.float32)
            elif key.replace("bias", "running_var") in state and key.endswith("bias"):
                state[key] = rng.normal(0, 0.1, state[key].shape).astype(np.float32)
        save_file(state, weights)
        path = f"{work}/{name}.onnx"
        export = ["export", "--model", name, "--weights", weights, "--format", "onnx", "--output", path]
        cnnkit(*(export + (["--fold-bn"] if args.fold_bn else [])))
        onnx.checker.check_model(path, full_check=True)
        shape = [args.batch] + [int(v) for v in inputs[name].split(",")]
        x = rng.standard_normal(shape).astype(np.float32)
        save_file({"input": x}, f"{work}/x.safetensors")
        cnnkit("forward", "--model", name, "--weights", weights, "--input", f"{work}/x.safetensors",
               "--output", f"{work}/y.safetensors")
        expected = load_file(f"{work}/y.safetensors")["output"]
        session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
        (got,) = session.run(["logits"], {"input": x})
        scale = float(np.abs(expected).max())
        error = float(np.abs(got - expected).max()) / max(scale, 1e-30)
        ok = got.shape == expected.shape and error <= 1e-4
        failures += not ok
        size = os.path.getsize(path) + (os.path.getsize(path + ".data") if os.path.exists(path + ".data") else 0)
        print(f"{name:22s} {'ok ' if ok else 'BAD'} max |ORT − cnnkit| / max|logit| = {error:.2e}  "
              f"(max|logit| {scale:.3g}, {size / 2**20:.1f} MiB)", flush=True)
        for f in (path, weights):
            os.remove(f)
print(f"{len(models) - failures} of {len(models)} models agree within 1e-4")
sys.exit(1 if failures else 0)
