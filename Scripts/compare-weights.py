#!/usr/bin/env python3
"""Compares two model.safetensors files tensor by tensor (standard library only).

Prints the worst max|a-b| / max|a| over the tensors and exits 1 when it exceeds the tolerance
(default 1e-5) or when the files hold different tensors. Usage: compare-weights.py A B [TOLERANCE]
"""
import array
import json
import struct
import sys


def load(path):
    with open(path, "rb") as handle:
        blob = handle.read()
    (length,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8 : 8 + length])
    base = 8 + length
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        start, end = entry["data_offsets"]
        code = {"F32": "f", "F64": "d", "I64": "q"}[entry["dtype"]]
        values = array.array(code)
        values.frombytes(blob[base + start : base + end])
        tensors[name] = values
    return tensors


def main():
    a, b = load(sys.argv[1]), load(sys.argv[2])
    tolerance = float(sys.argv[3]) if len(sys.argv) > 3 else 1e-5
    if sorted(a) != sorted(b):
        print("error: the files hold different tensors")
        return 1
    worst, where = 0.0, ""
    for name in a:
        scale = max((abs(v) for v in a[name]), default=0.0)
        difference = max((abs(x - y) for x, y in zip(a[name], b[name])), default=0.0)
        relative = difference / scale if scale > 0 else (0.0 if difference == 0 else float("inf"))
        if not relative <= worst:  # also catches NaN
            worst, where = relative, name
    print(f"{len(a)} tensors, worst max|a-b|/max|a| {worst:.3g} ({where or 'all equal'})")
    return 0 if worst <= tolerance else 1


if __name__ == "__main__":
    sys.exit(main())
