#!/usr/bin/env python3
"""Prints the Pillow/torchvision values that TransformTests.swift embeds (PillowResizeFixtures).

Run by a developer, not by CI:

    ../venv/bin/python Tests/Fixtures/generate_transform_fixtures.py

and paste the output over the body of `PillowResizeFixtures` in Tests/CNNKitTests/TransformTests.swift.
The 5×7 RGB source is a formula, recomputed on the Swift side.
"""
import textwrap

import numpy as np
import torch
import torchvision.transforms as T
from PIL import Image

H, W = 5, 7
source = np.zeros((H, W, 3), dtype=np.uint8)
for y in range(H):
    for x in range(W):
        for c in range(3):
            source[y, x, c] = (y * 37 + x * 11 + c * 53 + (x * y) % 7 * 19) % 256
image = Image.fromarray(source, "RGB")


def literal(name, values, integers=False):
    text = ", ".join(str(int(v)) if integers else f"{v:.4f}".rstrip("0").rstrip(".") for v in values)
    body = textwrap.fill(text, 100, initial_indent="    ", subsequent_indent="    ")
    return f"  static let {name}: [Float] = [\n{body},\n  ]\n"


out = ""
for oh, ow in [(3, 4), (3, 10), (8, 10)]:
    # Mode "F" resamples in floating point, as CNNKit does: the exact reference.
    planes = [Image.fromarray(source[:, :, c].astype(np.float32), "F").resize((ow, oh), Image.BILINEAR)
              for c in range(3)]
    values = np.stack([np.asarray(p) for p in planes], -1)
    out += f"  // Pillow {oh}×{ow}, mode \"F\" per channel.\n" + literal(f"pillowFloat{oh}x{ow}", values.flatten())
for oh, ow in [(3, 4), (3, 10)]:
    rgb = np.asarray(image.resize((ow, oh), Image.BILINEAR))
    assert (np.asarray(T.Resize((oh, ow))(image)) == rgb).all()
    out += (f"  // Pillow {oh}×{ow} on the 8-bit RGB image (= torchvision Resize(({oh}, {ow})) on PIL).\n"
            + literal(f"pillowRGB{oh}x{ow}", rgb.flatten(), True))
tensor = torch.tensor(source, dtype=torch.float32).permute(2, 0, 1)[None]
plain = torch.nn.functional.interpolate(tensor, size=(3, 10), mode="bilinear", align_corners=False,
                                        antialias=False)[0].permute(1, 2, 0).numpy()
out += ("  // torch.nn.functional.interpolate(size=(3, 10), mode=\"bilinear\", align_corners=False).\n"
        + literal("torchBilinear3x10", plain.flatten()))
print(out, end="")
