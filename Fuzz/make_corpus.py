"""Writes the seed corpora under Fuzz/Corpus/<target>/: small valid inputs cut from the test fixtures
and the shared datasets (../shared/datasets beside the repository), a few KB each.

Run from the repository root: /work/venv/bin/python Fuzz/make_corpus.py
Pillow (for the progressive JPEG and interlaced PNG seeds) is optional; without it those are skipped.
"""

import gzip
import io
import json
import os
import struct

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "Fuzz", "Corpus")
FIXTURES = os.path.join(ROOT, "Tests", "CNNKitTests", "Fixtures")
SHARED = os.path.join(os.path.dirname(ROOT), "shared", "datasets")


def write(target, name, data):
    folder = os.path.join(CORPUS, target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def gz(data):
    return gzip.compress(data, mtime=0)


def read(path):
    with open(path, "rb") as f:
        return f.read()


# safetensors, laid out as SafeTensorsWriter writes it: header padded with spaces to 8 bytes.
def safetensors(tensors, metadata=None):
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name, dtype, shape, blob in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def f32(values):
    return struct.pack("<%df" % len(values), *values)


# The fuzz targets' tinyModel(): Conv2d(1, 2, 3), BatchNorm2d(2), ReLU, Flatten, Linear(8, 3).
TINY = [
    ("0.weight", [2, 1, 3, 3]),
    ("0.bias", [2]),
    ("1.weight", [2]),
    ("1.bias", [2]),
    ("1.running_mean", [2]),
    ("1.running_var", [2]),
    ("4.weight", [3, 8]),
    ("4.bias", [3]),
]
PARAMETERS = [name for name, _ in TINY if "running" not in name]


def count(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def tiny_state(dtype="F32"):
    out = []
    for i, (name, shape) in enumerate(TINY):
        values = [((i * 7 + j) % 11) / 10 - 0.5 for j in range(count(shape))]
        if dtype == "F32":
            out.append((name, "F32", shape, f32(values)))
        elif dtype == "F16":
            out.append((name, "F16", shape, struct.pack("<%de" % len(values), *values)))
        else:  # BF16: the high half of each float
            out.append((name, "BF16", shape, b"".join(f32([v])[2:] for v in values)))
    out.append(("1.num_batches_tracked", "I64", [], struct.pack("<q", 3)))
    return out


def training_state(optimizer_scalars, scheduler, records=1):
    history = [
        {"epoch": e + 1, "trainLoss": 1.5 / (e + 1), "trainAccuracy": 0.5, "validationLoss": 1.2,
         "validationAccuracy": 0.6, "validationTop5": 0.9, "learningRate": 0.01, "seconds": 2.5,
         "imagesPerSecond": 100.0}
        for e in range(records)
    ]
    state = {
        "epoch": records, "batchInEpoch": 0, "globalStep": 4 * records,
        "randomState": [1, 2, 3, 4], "optimizerScalars": optimizer_scalars, "schedulerState": scheduler,
        "history": {"records": history}, "configuration": {"model": "tiny", "dataset": "mnist"},
    }
    return {"cnnkit.training_state": json.dumps(state, separators=(",", ":"))}


def momentum_buffers():
    return [("optimizer.%d.momentum_buffer" % i, "F32", dict(TINY)[n], f32([0.01] * count(dict(TINY)[n])))
            for i, n in enumerate(PARAMETERS)]


def adam_moments():
    out = []
    for i, n in enumerate(PARAMETERS):
        shape = dict(TINY)[n]
        out.append(("optimizer.%d.exp_avg" % i, "F32", shape, f32([0.02] * count(shape))))
        out.append(("optimizer.%d.exp_avg_sq" % i, "F32", shape, f32([0.001] * count(shape))))
    return out


def make_safetensors():
    write("safetensors", "tiny-f32", safetensors(tiny_state()))
    write("safetensors", "tiny-f16", safetensors(tiny_state("F16"), {"format": "pt"}))
    write("safetensors", "tiny-bf16", safetensors(tiny_state("BF16")))
    write("safetensors", "ints", safetensors([
        ("a", "I8", [2, 2], bytes([1, 255, 3, 4])), ("b", "U16", [3], struct.pack("<3H", 1, 2, 65535)),
        ("c", "I32", [1], struct.pack("<i", -7)), ("d", "U64", [1], struct.pack("<Q", 9)),
        ("e", "F64", [2], struct.pack("<2d", 0.5, -1e300)), ("f", "BOOL", [2], bytes([0, 1])),
        ("g", "U8", [0, 3], b""), ("h", "I16", [1], struct.pack("<h", -3)),
        ("i", "U32", [1], struct.pack("<I", 5)), ("j", "I64", [], struct.pack("<q", -1)),
    ]))
    for name in ["linear", "cross_entropy"]:
        write("safetensors", name, read(os.path.join(FIXTURES, name + ".safetensors")))


def make_checkpoints():
    sgd = {"lr": "0.01"}
    adam = {"lr": "0.001"}
    adam.update({"%d.step" % i: "4" for i in range(len(PARAMETERS))})
    schedulers = {
        "step": {"kind": "StepLR", "last_epoch": "1", "base_lr": "0.01"},
        "multistep": {"kind": "MultiStepLR", "last_epoch": "2", "base_lr": "0.01"},
        "cosine": {"kind": "CosineAnnealingLR", "last_epoch": "3", "base_lr": "0.001"},
        "constant": {"kind": "ConstantLR", "last_epoch": "1", "base_lr": "0.01"},
        "plateau": {"kind": "ReduceLROnPlateau", "last_epoch": "2", "best": "0.5", "num_bad_epochs": "1",
                    "cooldown_counter": "0", "base_lr": "0.01", "lr": "0.001"},
        "warmup": {"kind": "LinearWarmup", "last_epoch": "1", "inner.kind": "StepLR",
                   "inner.last_epoch": "0", "inner.base_lr": "0.01"},
    }
    for name, scheduler in schedulers.items():
        tensors = tiny_state() + momentum_buffers()
        write("checkpoint", "sgd-" + name, safetensors(tensors, training_state(sgd, scheduler, 2)))
    write("checkpoint", "adam-cosine", safetensors(
        tiny_state() + adam_moments(), training_state(adam, schedulers["cosine"], 3)))
    write("checkpoint", "sgd-fresh", safetensors(tiny_state(), training_state(sgd, schedulers["step"], 0)))


def make_idx():
    images = gzip.decompress(read(os.path.join(SHARED, "mnist", "t10k-images-idx3-ubyte.gz")))
    labels = gzip.decompress(read(os.path.join(SHARED, "mnist", "t10k-labels-idx1-ubyte.gz")))
    n = 3
    image_part = struct.pack(">IIII", 2051, n, 28, 28) + images[16:16 + n * 784]
    label_part = struct.pack(">II", 2049, n) + labels[8:8 + n]

    def pair(a, b):
        return struct.pack("<H", len(a)) + a + b

    write("idx", "mnist-3", pair(image_part, label_part))
    write("idx", "mnist-3-gz", pair(gz(image_part), gz(label_part)))
    small = struct.pack(">IIII", 2051, 2, 4, 3) + bytes(range(24))
    write("idx", "tiny-4x3", pair(small, struct.pack(">II", 2049, 2) + bytes([7, 1])))
    tiny = os.path.join(FIXTURES, "images", "tiny-idx")
    write("idx", "fixture-gz", pair(read(os.path.join(tiny, "train-images-idx3-ubyte.gz")),
                                    read(os.path.join(tiny, "train-labels-idx1-ubyte.gz"))))


def make_cifar():
    batch = gzip.decompress(read(os.path.join(SHARED, "cifar-10", "test_batch.bin.gz")))
    record = batch[:3073]
    write("cifar", "cifar10-1", record)
    write("cifar", "cifar100-1", bytes([3]) + record)
    write("cifar", "cifar10-2-gz", gz(batch[:2 * 3073]))


def digits_lines():
    return gzip.decompress(read(os.path.join(SHARED, "digits", "digits.csv.gz"))).split(b"\n")


def make_digits():
    lines = digits_lines()
    write("digits", "lines-10", b"\n".join(lines[:10]) + b"\n")
    write("digits", "lines-5-crlf", b"\r\n".join(lines[10:15]))
    write("digits", "lines-30-gz", gz(b"\n".join(lines[:30]) + b"\n"))


def make_images():
    folder = os.path.join(FIXTURES, "images")
    for name in sorted(os.listdir(folder)):
        if name.endswith((".png", ".jpg")):
            write("image", name, read(os.path.join(folder, name)))
    try:
        from PIL import Image
    except ImportError:
        print("Pillow missing: no progressive JPEG or interlaced PNG seeds")
        return
    photo = Image.open(os.path.join(SHARED, "images", "n04442312_toaster.JPEG")).convert("RGB")
    small = photo.resize((24, 18))
    out = io.BytesIO()
    small.save(out, "JPEG", quality=70, progressive=True)
    write("image", "progressive.jpg", out.getvalue())
    out = io.BytesIO()
    small.save(out, "JPEG", quality=70, subsampling=2)
    write("image", "subsampled-420.jpg", out.getvalue())
    out = io.BytesIO()
    small.save(out, "PNG", interlace=1)
    write("image", "interlaced.png", out.getvalue())
    out = io.BytesIO()
    small.convert("LA").save(out, "PNG")
    write("image", "grey-alpha.png", out.getvalue())
    out = io.BytesIO()
    small.convert("P", palette=Image.ADAPTIVE, colors=16).save(out, "PNG", transparency=0)
    write("image", "palette-transparent.png", out.getvalue())
    out = io.BytesIO()
    small.convert("1").save(out, "PNG")
    write("image", "one-bit.png", out.getvalue())
    out = io.BytesIO()
    small.convert("CMYK").save(out, "JPEG", quality=60, progressive=True)
    write("image", "cmyk-progressive.jpg", out.getvalue())


def make_gzip():
    tiny = os.path.join(FIXTURES, "images", "tiny-idx")
    write("gzip", "labels", read(os.path.join(tiny, "train-labels-idx1-ubyte.gz")))
    text = b"\n".join(digits_lines()[:4]) + b"\n"
    write("gzip", "digits", gz(text))
    write("gzip", "two-members", gz(b"first member\n") + gz(b"second\n"))
    write("gzip", "zero-padded", gz(b"padded") + bytes(16))
    write("gzip", "empty", gz(b""))
    write("gzip", "stored", gzip.compress(bytes(range(256)), compresslevel=0, mtime=0))


def make_config():
    examples = {
        "minimal": {"model": "lenet5", "max_steps": 2, "batch-size": 16, "output-dir": "out"},
        "full": {
            "model": "alexnet-mnist", "dataset": "mnist", "data-dir": "data", "classes": 10,
            "input": [1, 28, 28], "epochs": 5, "batch-size": 32, "lr": 0.02, "momentum": 0.9,
            "weight-decay": 5e-4, "optimizer": "sgd", "nesterov": True, "lr-scheduler": "multistep",
            "lr-step-size": 4, "lr-gamma": 0.1, "lr-milestones": "30,60,90", "lr-warmup-epochs": 1,
            "lr-warmup-decay": 0.01, "lr-min": 0.0, "lr-patience": 10, "label-smoothing": 0.1,
            "output-dir": "runs/x", "tensorboard": "runs/tb", "resume": "runs/x", "seed": 18446744073709551615, "threads": 2,
            "workers": 2, "keep-last": 1, "max-steps": 100, "no-augment": False, "pca-color": False,
            "skip-corrupt": True, "no-validation": False,
        },
        "underscores": {"lr_milestones": [30, 60], "lr_scheduler": "step", "weight_decay": 0, "seed": 7},
    }
    for name, value in examples.items():
        write("config", name + ".json", json.dumps(value, indent=1).encode())
    write("config", "bad-key.json", b'{"epoch": 3}')


if __name__ == "__main__":
    make_safetensors()
    make_checkpoints()
    make_idx()
    make_cifar()
    make_digits()
    make_images()
    make_gzip()
    make_config()
