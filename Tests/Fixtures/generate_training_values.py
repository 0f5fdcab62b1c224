#!/usr/bin/env python3
"""Prints the PyTorch values that OptimizerTests, SchedulerTests and LossTests embed.

Run by a developer, not by CI:

    ../venv/bin/python Tests/Fixtures/generate_training_values.py

Every input is a short decimal (written the same way in the Swift tests), so both sides start from
identical Float32 values. Output is Swift array literals, pasted into the tests by hand.
"""
import warnings

import numpy as np
import torch
import torch.nn.functional as F

torch.manual_seed(0)
# Schedulers step here without optimiser steps; PyTorch warns about that order.
warnings.filterwarnings("ignore", message="Detected call of")


def f32(values):
    """Shortest decimals that round-trip as Float32."""
    return "[" + ", ".join(str(np.float32(v)) for v in np.asarray(values, dtype=np.float32).ravel()) + "]"


def f64(values):
    return "[" + ", ".join(repr(float(v)) for v in values) + "]"


def rounded(shape, scale=1.0):
    return torch.round(torch.randn(shape) * scale * 1000) / 1000


# ---- optimisers -------------------------------------------------------------------------------
# Two parameters, four steps of fixed gradients; parameter 1 has no gradient in step 2 (index 1).
W0 = rounded((2, 3))
W1 = rounded((4,))
GRADS = [(rounded((2, 3)), rounded((4,))) for _ in range(4)]
print("// optimiser inputs")
print("w0 =", f32(W0))
print("w1 =", f32(W1))
for i, (g0, g1) in enumerate(GRADS):
    print(f"grads[{i}] =", f32(g0), f32(g1) if i != 1 else "nil")

OPTIMIZERS = {
    "sgdPlain": lambda p: torch.optim.SGD(p, lr=0.1),
    "sgdMomentumDecay": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=0.01),
    "sgdNesterov": lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=5e-4, nesterov=True),
    "sgdDampening": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.8, dampening=0.3),
    "adam": lambda p: torch.optim.Adam(p, lr=0.01, foreach=False),
    "adamDecay": lambda p: torch.optim.Adam(
        p, lr=0.02, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.1, foreach=False),
    "adamW": lambda p: torch.optim.AdamW(p, lr=0.01, weight_decay=0.1, foreach=False),
    "adamWLowBeta": lambda p: torch.optim.AdamW(
        p, lr=0.03, betas=(0.3, 0.9), weight_decay=0.05, foreach=False),
}
print("\n// optimiser trajectories: parameters (w0 then w1) after each step")
for name, make in OPTIMIZERS.items():
    params = [W0.clone().requires_grad_(True), W1.clone().requires_grad_(True)]
    opt = make(params)
    rows = []
    for i, (g0, g1) in enumerate(GRADS):
        params[0].grad = g0.clone()
        params[1].grad = None if i == 1 else g1.clone()
        opt.step()
        rows.append(f32(torch.cat([params[0].detach().ravel(), params[1].detach().ravel()])))
    print(f'"{name}": [\n  ' + ",\n  ".join(rows) + "],")

# ---- schedulers -------------------------------------------------------------------------------
EPOCHS = 12


def lr_sequence(make, metrics=None):
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    sched = make(opt)
    out = [opt.param_groups[0]["lr"]]
    for e in range(EPOCHS):
        if metrics is None:
            sched.step()
        else:
            sched.step(metrics[e])
        out.append(opt.param_groups[0]["lr"])
    return out


S = torch.optim.lr_scheduler
PLATEAU_LOSS = [1.0, 0.9, 0.95, 0.91, 0.9, 0.92, 0.85, 0.86, 0.87, 0.88, 0.849, 0.86]
PLATEAU_ACC = [0.5, 0.6, 0.605, 0.62, 0.7, 0.705, 0.71, 0.72, 0.8, 0.79, 0.78, 0.805]
SCHEDULES = {
    "step": (lambda o: S.StepLR(o, step_size=4, gamma=0.1), None),
    "multistep": (lambda o: S.MultiStepLR(o, milestones=[3, 7, 10], gamma=0.5), None),
    "cosine": (lambda o: S.CosineAnnealingLR(o, T_max=10, eta_min=0.001), None),
    "warmupStep": (
        lambda o: S.SequentialLR(
            o, [S.LinearLR(o, start_factor=0.25, total_iters=3), S.StepLR(o, step_size=4, gamma=0.1)],
            milestones=[3]),
        None),
    "warmupCosine": (
        lambda o: S.SequentialLR(
            o, [S.LinearLR(o, start_factor=0.1, total_iters=2), S.CosineAnnealingLR(o, T_max=8)],
            milestones=[2]),
        None),
    "plateauMin": (
        lambda o: S.ReduceLROnPlateau(o, mode="min", factor=0.5, patience=2, cooldown=1, min_lr=0.02),
        PLATEAU_LOSS),
    "plateauMaxAbs": (
        lambda o: S.ReduceLROnPlateau(
            o, mode="max", factor=0.1, patience=1, threshold=0.01, threshold_mode="abs"),
        PLATEAU_ACC),
    "plateauDefaults": (lambda o: S.ReduceLROnPlateau(o), [0.5] * EPOCHS),
}
print("\n// learning rates at epochs 0...12 (base 0.1)")
print("plateau loss metrics =", f64(PLATEAU_LOSS))
print("plateau accuracy metrics =", f64(PLATEAU_ACC))
for name, (make, metrics) in SCHEDULES.items():
    print(f'"{name}": {f64(lr_sequence(make, metrics))},')

# ---- label-smoothing cross-entropy ------------------------------------------------------------
LOGITS = rounded((4, 5), 2.0)
TARGETS = [1, 0, 4, 2]
GRAD_OUT = rounded((4,))
print("\n// cross-entropy")
print("logits =", f32(LOGITS))
print("targets =", TARGETS)
print("grad_out (reduction none) =", f32(GRAD_OUT))
for eps in [0.0, 0.1, 0.3]:
    for reduction in ["mean", "sum", "none"]:
        x = LOGITS.clone().requires_grad_(True)
        loss = F.cross_entropy(x, torch.tensor(TARGETS), label_smoothing=eps, reduction=reduction)
        if reduction == "none":
            loss.backward(GRAD_OUT)
        else:
            loss.backward()
        print(f"(eps {eps}, {reduction}): value {f32(loss.detach())} grad {f32(x.grad)}")
