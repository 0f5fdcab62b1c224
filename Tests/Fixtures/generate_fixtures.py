#!/usr/bin/env python3
"""Writes the PyTorch fixtures CNNKit's tests compare against.

Run by a developer, not by CI (PyTorch is large):

    python3 -m venv ../venv && ../venv/bin/pip install torch==2.15.0 torchvision==0.29.2 safetensors
    ../venv/bin/python Tests/Fixtures/generate_fixtures.py

Each op fixture is one .safetensors file in Tests/CNNKitTests/Fixtures/ holding the inputs, the
parameters, a random upstream gradient `grad_output`, PyTorch's `output`, and the gradients of
sum(output * grad_output) with respect to every input and parameter (`grad_<name>`). The op and its
settings are in the file's metadata, so the Swift tests read everything they need from the file.

Whole-model fixtures store only the input and the logits: the weights are filled on both sides by
`formula_fill` below (an integer hash, exactly reproducible in Swift), which keeps the files small.
"""
import json
import os

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from safetensors.torch import save_file

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "CNNKitTests", "Fixtures")
torch.manual_seed(1234)


def op_fixture(name, op, inputs, params=None, meta=None, positive_inputs=False):
    """Runs `op(**inputs, **params)`, backpropagates a random grad_output and saves everything."""
    params = params or {}
    tensors = {}
    leaves = {}
    for key, value in {**inputs, **params}.items():
        if value.dtype.is_floating_point:
            leaf = value.detach().clone().requires_grad_(True)
        else:
            leaf = value
        leaves[key] = leaf
        tensors[key] = value.detach().clone()
    out = op(**leaves)
    grad_output = torch.randn_like(out)
    (out * grad_output).sum().backward()
    tensors["output"] = out.detach()
    tensors["grad_output"] = grad_output
    for key, leaf in leaves.items():
        if leaf.dtype.is_floating_point and leaf.grad is not None:
            tensors["grad_" + key] = leaf.grad.detach()
    tensors = {k: (v.float().contiguous() if v.dtype.is_floating_point else v.contiguous()) for k, v in tensors.items()}
    metadata = {k: json.dumps(v) for k, v in (meta or {}).items()}
    save_file(tensors, os.path.join(OUT, name + ".safetensors"), metadata=metadata)


def conv_fixtures():
    configs = [
        # name, N, Cin, H, W, Cout, k, stride, padding, dilation, groups, bias
        ("conv_basic", 2, 3, 9, 8, 4, 3, 1, 0, 1, 1, True),
        ("conv_stride2_pad1", 2, 3, 11, 10, 5, 3, 2, 1, 1, 1, True),
        ("conv_alexnet_stem", 1, 3, 31, 31, 4, 11, 4, 2, 1, 1, True),
        ("conv_groups2", 2, 4, 7, 9, 6, 3, 1, 1, 1, 2, True),
        ("conv_depthwise", 1, 3, 8, 8, 3, 3, 2, 1, 1, 3, False),
        ("conv_dilation2", 1, 2, 10, 9, 3, 3, 1, 2, 2, 1, True),
        ("conv_1x1_nobias", 2, 5, 6, 5, 7, 1, 2, 0, 1, 1, False),
        ("conv_stride3_pad2", 1, 2, 13, 12, 3, 5, 3, 2, 1, 1, True),
    ]
    for name, n, cin, h, w, cout, k, s, p, d, g, bias in configs:
        params = {"weight": torch.randn(cout, cin // g, k, k) * 0.3}
        if bias:
            params["bias"] = torch.randn(cout) * 0.1
        op = lambda x, weight, bias=None, s=s, p=p, d=d, g=g: F.conv2d(x, weight, bias, s, p, d, g)
        op_fixture(name, op, {"x": torch.randn(n, cin, h, w)}, params,
                   {"op": "conv2d", "stride": s, "padding": p, "dilation": d, "groups": g})


def pool_fixtures():
    # Distinct values avoid max-pool ties, whose gradient routing is an arbitrary choice.
    def distinct(*shape):
        return torch.randperm(int(np.prod(shape))).float().reshape(shape) / 10 - 5

    for name, k, s, p, ceil, shape in [
        ("maxpool_3s2", 3, 2, 0, False, (2, 3, 13, 13)),
        ("maxpool_3s2_pad1", 3, 2, 1, False, (1, 2, 10, 9)),
        ("maxpool_3s2_ceil", 3, 2, 0, True, (1, 2, 6, 8)),
        ("maxpool_2s2", 2, 2, 0, False, (2, 2, 8, 7)),
    ]:
        op = lambda x, k=k, s=s, p=p, ceil=ceil: F.max_pool2d(x, k, s, p, ceil_mode=ceil)
        op_fixture(name, op, {"x": distinct(*shape)},
                   meta={"op": "max_pool2d", "kernel": k, "stride": s, "padding": p, "ceil_mode": ceil})
    for name, k, s, p, ceil, include, shape in [
        ("avgpool_3s2_pad1", 3, 2, 1, False, True, (2, 2, 9, 8)),
        ("avgpool_3s2_pad1_exclude", 3, 2, 1, False, False, (1, 2, 9, 8)),
        ("avgpool_2s2_ceil", 2, 2, 0, True, True, (1, 3, 7, 5)),
        ("avgpool_3s2_pad1_ceil_exclude", 3, 2, 1, True, False, (1, 2, 8, 8)),
    ]:
        op = lambda x, k=k, s=s, p=p, ceil=ceil, include=include: F.avg_pool2d(x, k, s, p, ceil, include)
        op_fixture(name, op, {"x": torch.randn(*shape)},
                   meta={"op": "avg_pool2d", "kernel": k, "stride": s, "padding": p, "ceil_mode": ceil,
                         "count_include_pad": include})
    for name, out, shape in [
        ("adaptive_13to6", (6, 6), (1, 3, 13, 13)),
        ("adaptive_7to3", (3, 3), (2, 2, 7, 7)),
        ("adaptive_5x8to2x3", (2, 3), (1, 2, 5, 8)),
        ("adaptive_1to7", (7, 7), (1, 2, 1, 1)),
    ]:
        op = lambda x, out=out: F.adaptive_avg_pool2d(x, out)
        op_fixture(name, op, {"x": torch.randn(*shape)},
                   meta={"op": "adaptive_avg_pool2d", "output_size": list(out)})


def norm_fixtures():
    c = 4
    mean0, var0 = torch.randn(c) * 0.2, torch.rand(c) + 0.5
    for name, training in [("batchnorm_train", True), ("batchnorm_eval", False)]:
        running_mean, running_var = mean0.clone(), var0.clone()

        def op(x, weight, bias, training=training, rm=running_mean, rv=running_var):
            return F.batch_norm(x, rm, rv, weight, bias, training, 0.1, 1e-5)

        x = torch.randn(3, c, 5, 4) * 2 + 1
        params = {"weight": torch.rand(c) + 0.5, "bias": torch.randn(c) * 0.1}
        op_fixture(name, op, {"x": x}, params, {"op": "batch_norm", "training": training,
                                                "momentum": 0.1, "eps": 1e-5})
        # Running statistics before and after the call, stored beside the op's tensors.
        path = os.path.join(OUT, name + ".safetensors")
        from safetensors.torch import load_file
        from safetensors import safe_open
        with safe_open(path, "pt") as f:
            meta = f.metadata()
        tensors = load_file(path)
        tensors.update({"running_mean_before": mean0, "running_var_before": var0,
                        "running_mean_after": running_mean, "running_var_after": running_var})
        save_file(tensors, path, metadata=meta)

    # LRN: PyTorch divides alpha by size; the paper does not. Large alpha makes the term matter.
    for name, size, alpha, beta, k in [("lrn_pytorch_5", 5, 0.5, 0.75, 2.0), ("lrn_pytorch_4", 4, 0.3, 0.6, 1.0)]:
        op = lambda x, size=size, alpha=alpha, beta=beta, k=k: F.local_response_norm(x, size, alpha, beta, k)
        op_fixture(name, op, {"x": torch.randn(2, 7, 3, 4) * 1.5},
                   meta={"op": "local_response_norm", "convention": "pytorch", "size": size, "alpha": alpha,
                         "beta": beta, "k": k})
    # The paper's formula with alpha is PyTorch's with alpha * size.
    size, alpha, beta, k = 5, 0.1, 0.75, 2.0
    op = lambda x: F.local_response_norm(x, size, alpha * size, beta, k)
    op_fixture("lrn_paper_5", op, {"x": torch.randn(2, 8, 3, 3) * 1.5},
               meta={"op": "local_response_norm", "convention": "paper", "size": size, "alpha": alpha,
                     "beta": beta, "k": k})


def misc_fixtures():
    op_fixture("linear", lambda x, weight, bias: F.linear(x, weight, bias), {"x": torch.randn(5, 7)},
               {"weight": torch.randn(3, 7) * 0.4, "bias": torch.randn(3) * 0.1}, {"op": "linear"})
    x = torch.randn(4, 3, 5, 5)
    x = torch.where(x.abs() < 1e-3, torch.full_like(x, 0.1), x)
    op_fixture("relu", lambda x: F.relu(x), {"x": x}, meta={"op": "relu"})
    op_fixture("softmax", lambda x: F.softmax(x, dim=-1), {"x": torch.randn(4, 6) * 3}, meta={"op": "softmax"})
    op_fixture("log_softmax", lambda x: F.log_softmax(x, dim=-1), {"x": torch.randn(4, 6) * 3},
               meta={"op": "log_softmax"})
    targets = torch.tensor([2, 0, 5, 1, 3])
    op_fixture("cross_entropy", lambda x, target: F.cross_entropy(x, target).reshape(1),
               {"x": torch.randn(5, 6) * 2, "target": targets}, meta={"op": "cross_entropy"})
    op_fixture("nll_loss", lambda x, target: F.nll_loss(F.log_softmax(x, -1), target).reshape(1),
               {"x": torch.randn(5, 6), "target": targets}, meta={"op": "nll_loss"})
    op_fixture("add", lambda x, y: x + y, {"x": torch.randn(2, 3, 4, 4), "y": torch.randn(2, 3, 4, 4)},
               meta={"op": "add"})


def formula_fill(model):
    """Deterministic weights reproducible bit for bit in Swift (see Tests/CNNKitTests/FixtureSupport.swift).

    Tensor t of the state dict (in order), element i: u = ((i * 2654435761 + t * 40503 + 12345) mod 2^32) / 2^32.
    Weights (rank >= 2): (2u - 1) / sqrt(fan_in); biases: (2u - 1) * 0.1; BN weight: 1 + 0.2 (2u - 1);
    running_mean: 0.5 (2u - 1); running_var: 0.5 + u; num_batches_tracked: 0. Computed in float64.
    """
    state = model.state_dict()
    filled = {}
    for t, (name, tensor) in enumerate(state.items()):
        n = tensor.numel()
        i = np.arange(n, dtype=np.uint64)
        u = ((i * np.uint64(2654435761) + np.uint64(t * 40503 + 12345)) % np.uint64(1 << 32)).astype(np.float64) / 2.0**32
        if name.endswith("num_batches_tracked"):
            filled[name] = torch.zeros_like(tensor)
            continue
        if name.endswith("running_mean"):
            v = 0.5 * (2 * u - 1)
        elif name.endswith("running_var"):
            v = 0.5 + u
        elif tensor.dim() >= 2:
            fan_in = n // tensor.shape[0]
            v = (2 * u - 1) / np.sqrt(float(fan_in))
        elif name.endswith("weight"):
            v = 1 + 0.2 * (2 * u - 1)
        else:
            v = (2 * u - 1) * 0.1
        filled[name] = torch.from_numpy(v.astype(np.float32)).reshape(tensor.shape)
    model.load_state_dict(filled)


def model_fixtures():
    for name, size in [("alexnet", 64), ("vgg11_bn", 32), ("resnet18", 48)]:
        model = getattr(torchvision.models, name)(num_classes=10).eval()
        formula_fill(model)
        x = torch.randn(2, 3, size, size)
        with torch.no_grad():
            logits = model(x)
        save_file({"input": x, "logits": logits}, os.path.join(OUT, "model_" + name + ".safetensors"),
                  metadata={"model": name, "classes": "10"})


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    conv_fixtures()
    pool_fixtures()
    norm_fixtures()
    misc_fixtures()
    model_fixtures()
    print("fixtures written to", os.path.normpath(OUT))
