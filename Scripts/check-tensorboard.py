#!/usr/bin/env python3
"""Reads `cnnkit train --tensorboard` output with TensorBoard's own reader.

Trains lenet5 for two short epochs into a temporary folder (or reads an existing folder given with
--logdir), loads it with tensorboard's EventAccumulator, prints every scalar, and fails unless the
six per-epoch series are there with one value per epoch. Not part of CI (it needs the tensorboard
package): run it after changing the event writer, e.g.

    swift build -c release
    ../venv/bin/python Scripts/check-tensorboard.py   # or /work/venv/bin/python
"""
import argparse
import os
import subprocess
import sys
import tempfile

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

TAGS = {"loss/train", "loss/val", "accuracy/train", "accuracy/val", "lr", "img_per_s"}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser.add_argument("--cnnkit", default=os.path.join(root, ".build/release/cnnkit"))
    parser.add_argument("--logdir", help="read this folder instead of training")
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        logdir = args.logdir
        epochs = None
        if logdir is None:
            logdir = os.path.join(scratch, "tb")
            epochs = args.epochs
            subprocess.run(
                [args.cnnkit, "train", "--model", "lenet5", "--epochs", str(epochs), "--train-subset", "256",
                 "--val-subset", "128", "-b", "32", "--output-dir", os.path.join(scratch, "run"),
                 "--tensorboard", logdir],
                check=True, stdout=subprocess.DEVNULL)
        accumulator = EventAccumulator(logdir, size_guidance={"scalars": 0})
        accumulator.Reload()
        tags = set(accumulator.Tags()["scalars"])
        for tag in sorted(tags):
            points = ", ".join(f"{e.step}: {e.value:.6g}" for e in accumulator.Scalars(tag))
            print(f"{tag:16} {points}")
        missing = TAGS - tags
        if missing:
            sys.exit(f"missing scalars: {sorted(missing)}")
        if epochs is not None:
            for tag in TAGS:
                steps = [e.step for e in accumulator.Scalars(tag)]
                if steps != list(range(1, epochs + 1)):
                    sys.exit(f"{tag}: steps {steps}, expected 1...{epochs}")
        print("TensorBoard reads every scalar.")


if __name__ == "__main__":
    main()
