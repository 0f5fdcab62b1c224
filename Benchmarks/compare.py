#!/usr/bin/env python3
"""Side-by-side speed: CNNKit against PyTorch (and ONNX Runtime for inference) on this machine.

Runs each configuration alternately — CNNKit, PyTorch, ONNX Runtime, CNNKit, ... — so that a slow
phase of the machine (the two vCPUs sometimes share one core) hits every framework alike, then prints
the median images/s of each and the ratios. CI does not run this.

Environment (outside the repository):
    python3 -m venv ../venv
    ../venv/bin/pip install torch==2.15.0 torchvision==0.29.2 onnxruntime onnx
Then, after `swift build -c release`:
    ../venv/bin/python Benchmarks/compare.py                       # the default configurations
    ../venv/bin/python Benchmarks/compare.py --config alexnet:infer:1 --rounds 5
Each framework runs in its own process per round, with the same thread count; PyTorch uses
OMP_WAIT_POLICY=PASSIVE (spinning OpenMP threads collapse on this machine).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_CONFIGS = [
    "alexnet:infer:1", "alexnet:infer:32", "alexnet:train:128", "alexnet-cifar:train:128",
    "resnet18:infer:1", "vgg16:infer:1", "lenet5:train:64",
]

# One measurement in a fresh interpreter: model, mode, batch, threads, iterations, warm-up.
TORCH_WORKER = r"""
import json, resource, statistics, sys, time, torch, torchvision
model_name, mode, batch, threads, iterations, warmup, backend = sys.argv[1:8]
batch, threads, iterations, warmup = int(batch), int(threads), int(iterations), int(warmup)
torch.set_num_threads(threads)
torch.manual_seed(0)

def build(name):
    if name == "lenet5":
        return torch.nn.Sequential(
            torch.nn.Conv2d(1, 6, 5), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
            torch.nn.Conv2d(6, 16, 5), torch.nn.ReLU(), torch.nn.MaxPool2d(2), torch.nn.Flatten(),
            torch.nn.Linear(400, 120), torch.nn.ReLU(), torch.nn.Linear(120, 84), torch.nn.ReLU(),
            torch.nn.Linear(84, 10)), (1, 32, 32), 10
    if name == "alexnet-cifar":
        # The same layers as CNNKit's alexnet-cifar (Sources/CNNKit/Models/AlexNetSmall.swift).
        c = [48, 128, 192, 192, 128]
        return torch.nn.Sequential(
            torch.nn.Conv2d(3, c[0], 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
            torch.nn.Conv2d(c[0], c[1], 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
            torch.nn.Conv2d(c[1], c[2], 3, padding=1), torch.nn.ReLU(),
            torch.nn.Conv2d(c[2], c[3], 3, padding=1), torch.nn.ReLU(),
            torch.nn.Conv2d(c[3], c[4], 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
            torch.nn.Flatten(), torch.nn.Dropout(0.5), torch.nn.Linear(c[4] * 16, 512), torch.nn.ReLU(),
            torch.nn.Dropout(0.5), torch.nn.Linear(512, 512), torch.nn.ReLU(), torch.nn.Linear(512, 10)), (3, 32, 32), 10
    return getattr(torchvision.models, name.replace("-", "_"))(), (3, 224, 224), 1000

model, shape, classes = build(model_name)
x = torch.randn(batch, *shape)
labels = torch.randint(0, classes, (batch,))
if mode == "train":
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9, weight_decay=5e-4)
    def step():
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), labels).backward()
        opt.step()
elif backend == "onnxruntime":
    import onnxruntime as ort
    model.eval()
    path = sys.argv[8]
    torch.onnx.export(model, x, path, input_names=["x"], dynamo=False)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    feed = {"x": x.numpy()}
    def step():
        session.run(None, feed)
else:
    model.eval()
    def step():
        with torch.no_grad():
            model(x)
for _ in range(warmup):
    step()
rates = []
for _ in range(iterations):
    start = time.perf_counter()
    step()
    rates.append(batch / (time.perf_counter() - start))
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"framework": backend, "img_s_median": statistics.median(rates), "max_rss_mib": rss}))
"""


def run_cnnkit(cnnkit, model, mode, batch, threads, iterations, warmup):
    out = subprocess.run(
        [cnnkit, "bench", "--model", model, "--mode", mode, "--batch", str(batch), "--threads", str(threads),
         "--iterations", str(iterations), "--warmup", str(warmup)], check=True, capture_output=True, text=True).stdout
    return json.loads([line for line in out.splitlines() if line.startswith("{")][-1])


def run_python(python, backend, model, mode, batch, threads, iterations, warmup, scratch):
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE", OMP_NUM_THREADS=str(threads))
    out = subprocess.run(
        [python, "-c", TORCH_WORKER, model, mode, str(batch), str(threads), str(iterations), str(warmup), backend,
         os.path.join(scratch, f"{model}.onnx")], check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", action="append", help="MODEL:MODE:BATCH (repeatable)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per configuration")
    parser.add_argument("--iterations", type=int, default=5, help="timed steps per round")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--python", default=sys.executable, help="interpreter with torch/torchvision/onnxruntime")
    parser.add_argument("--cnnkit", default=os.path.join(ROOT, ".build", "release", "cnnkit"))
    args = parser.parse_args()
    scratch = tempfile.mkdtemp(prefix="cnnkit-compare-")
    print(f"{'configuration':24} {'framework':12} {'img/s':>9} {'RSS MiB':>8} {'CNNKit ×':>9}")
    for config in args.config or DEFAULT_CONFIGS:
        model, mode, batch = config.split(":")
        frameworks = ["cnnkit", "pytorch"] + (["onnxruntime"] if mode == "infer" else [])
        results = {f: [] for f in frameworks}
        rss = {f: 0.0 for f in frameworks}
        for _ in range(args.rounds):
            for framework in frameworks:
                if framework == "cnnkit":
                    r = run_cnnkit(args.cnnkit, model, mode, batch, args.threads, args.iterations, args.warmup)
                else:
                    r = run_python(args.python, framework, model, mode, batch, args.threads, args.iterations,
                                   args.warmup, scratch)
                results[framework].append(r["img_s_median"])
                rss[framework] = max(rss[framework], r["max_rss_mib"])
        ours = statistics.median(results["cnnkit"])
        for framework in frameworks:
            median = statistics.median(results[framework])
            ratio = "" if framework == "cnnkit" else f"{ours / median:9.2f}"
            print(f"{config:24} {framework:12} {median:9.1f} {rss[framework]:8.0f} {ratio}")
            print(json.dumps({"config": config, "framework": framework, "img_s_median": median,
                              "rounds": results[framework], "max_rss_mib": rss[framework]}), file=sys.stderr)


if __name__ == "__main__":
    main()
