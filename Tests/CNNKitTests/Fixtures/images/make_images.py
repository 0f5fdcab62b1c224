"""Writes the small image and IDX fixtures beside this script and prints the values the Swift tests
expect, as Pillow decodes them (Pillow is the reference torchvision uses).

Run: /work/venv/bin/python Tests/CNNKitTests/Fixtures/images/make_images.py
"""

import gzip
import os
import struct

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
W, H = 16, 12


def pattern():
    y, x = np.mgrid[0:H, 0:W]
    r = (x * 16 + y * 3) % 256
    g = (y * 20 + 7) % 256
    b = ((x ^ y) * 13) % 256
    return np.stack([r, g, b], axis=-1).astype(np.uint8)


def write_images():
    rgb = Image.fromarray(pattern())
    rgb.save(os.path.join(HERE, "rgb.png"))
    rgb.save(os.path.join(HERE, "rgb.jpg"), quality=90)
    rgb.convert("L").save(os.path.join(HERE, "grey.jpg"), quality=90)
    rgb.convert("CMYK").save(os.path.join(HERE, "cmyk.jpg"), quality=95)
    rgba = np.dstack([pattern(), (np.arange(W * H).reshape(H, W) * 7 % 256).astype(np.uint8)])
    Image.fromarray(rgba).save(os.path.join(HERE, "rgba.png"))
    palette = rgb.quantize(colors=8)
    palette.info["transparency"] = 0
    palette.save(os.path.join(HERE, "palette.png"), transparency=0)
    # 16-bit grey with samples k * 257, so every correct 16 -> 8 bit reduction gives exactly k.
    k = (np.arange(W * H).reshape(H, W) * 11 % 256).astype(np.uint16)
    Image.fromarray((k * 257).astype("<u2")).save(os.path.join(HERE, "grey16.png"))
    rgb.convert("1").save(os.path.join(HERE, "bilevel.png"))


def write_idx():
    count, side = 5, 28
    y, x = np.mgrid[0:side, 0:side]
    images = np.stack([((x * 9 + y * 5 + i * 40) % 256) for i in range(count)]).astype(np.uint8)
    header = struct.pack(">IIII", 2051, count, side, side)
    folder = os.path.join(HERE, "tiny-idx")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "train-images-idx3-ubyte.gz"), "wb") as f:
        f.write(gzip.compress(header + images.tobytes(), mtime=0))
    labels = bytes([3, 1, 4, 1, 5])
    with open(os.path.join(folder, "train-labels-idx1-ubyte.gz"), "wb") as f:
        f.write(gzip.compress(struct.pack(">II", 2049, count) + labels, mtime=0))


def expected(name, mode):
    """Pillow's decoding of fixture `name` converted to `mode`: size, sum and three pixels."""
    with Image.open(os.path.join(HERE, name)) as image:
        source_mode = image.mode
        if mode == "native":
            mode = "L" if image.mode in ("L", "1", "I;16", "LA") else "RGB"
        if image.mode == "I;16":  # Pillow clips 16-bit to 255; we scale, so compare with k
            a = (np.asarray(image).astype(np.uint32) // 257).astype(np.uint8)
            if mode == "RGB":
                a = np.repeat(a[..., None], 3, axis=-1)
        else:
            a = np.asarray(image.convert(mode))
    a = a.astype(np.int64)
    if a.ndim == 2:
        a = a[..., None]
    points = [(0, 0), (5, 7), (H - 1, W - 1)]
    values = [a[py, px].tolist() for py, px in points]
    return f'("{name}", .{"grey" if mode == "L" else "rgb"}, {a.shape[2]}, {int(a.sum())}, {values})  // {source_mode}'


if __name__ == "__main__":
    write_images()
    write_idx()
    cases = [
        ("rgb.png", "RGB"), ("rgb.png", "L"), ("rgb.jpg", "RGB"), ("rgb.jpg", "L"), ("grey.jpg", "native"),
        ("grey.jpg", "RGB"), ("cmyk.jpg", "RGB"), ("rgba.png", "RGB"), ("rgba.png", "L"),
        ("palette.png", "RGB"), ("grey16.png", "native"), ("grey16.png", "RGB"), ("bilevel.png", "RGB"),
    ]
    for name, mode in cases:
        print(expected(name, mode) + ",")
