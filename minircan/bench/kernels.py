"""The kernel benchmark: every kernel of a device's table at the paper's layer shape (N=16, C=K=64, 48x48 LR
patches, 3x3, padding 1, float32) against PyTorch on the same threads and device, one row per conv
algorithm: median time, throughput (GFLOP/s for convolutions, GB/s of memory traffic for the rest) and the
ratio to PyTorch (ours / torch: below 1 is faster). Without PyTorch only minircan's column is filled."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..device import device as get_device
from .common import device_sync, median_time

WINOGRAD_TILES = (4, 2)  # the fast rung first; F(2x2) is the teaching rung (generic, slower transforms)


@dataclass
class Case:
    name: str
    ours: Callable[[], object]
    torch: Callable[[], object] | None
    work: float  # FLOPs for a conv, bytes moved otherwise
    unit: str  # "GFLOP/s" or "GB/s"


def kernel_cases(n: int, c: int, hw: int, dtype=np.float32, with_torch: bool = True, device="cpu",
                 torch_device: str = "cpu") -> list[Case]:
    """The kernel benchmark cases at batch n, c channels in and out, hw x hw images, 3x3 conv, pad 1: the
    kernels of minircan's ``device`` (its kernel table) against PyTorch's on ``torch_device``."""
    dev = get_device(device)
    k = dev.kernels
    rng = np.random.default_rng(0)
    host = dict(x=rng.standard_normal((n, c, hw, hw)), w=rng.standard_normal((c, c, 3, 3)) * 0.05,
                b=rng.standard_normal(c), g=rng.standard_normal((n, c, hw, hw)),
                pooled_g=rng.standard_normal((n, c, 1, 1)),
                xs=rng.standard_normal((n, 4 * c, hw, hw)))  # xs: the x2 upsampler's conv output
    a = {name: dev.xp.asarray(v.astype(dtype)) for name, v in host.items()}
    x, w, b, g, pooled_g, xs = (a[name] for name in ("x", "w", "b", "g", "pooled_g", "xs"))
    y_relu, y_sig, ys = k.relu_forward(x), k.sigmoid_forward(x), k.pixel_shuffle(xs, 2)
    s1, p1 = (1, 1), (1, 1)
    flops = 2.0 * n * c * c * 9 * hw * hw
    nbytes = x.nbytes
    t = {}
    if with_torch:
        t = _torch_ops(*(dev.to_numpy(v) for v in (x, w, b, g, y_relu, y_sig, pooled_g, xs, ys)), device=torch_device)
    convs = [
        Case("conv2d forward, im2col", lambda: k.conv2d_forward(x, w, b, s1, p1), t.get("conv_fwd"), flops, "GFLOP/s"),
        Case("conv2d input grad, im2col", lambda: k.conv2d_backward_input(g, w, x.shape, s1, p1), t.get("conv_dx"),
             flops, "GFLOP/s"),
        Case("conv2d weight+bias grad, im2col",
             lambda: k.conv2d_backward_params(g, x, w.shape, s1, p1, bias=True),
             t.get("conv_dw"), flops, "GFLOP/s"),
    ]
    if k.has_winograd:
        # GFLOP/s of Winograd rows count the direct convolution's multiply-adds: an effective rate, comparable
        # across rows, above what the machine's multipliers can do when Winograd saves multiplications.
        for m in WINOGRAD_TILES:
            name = f"winograd F({m}x{m})"
            convs += [
                Case(f"conv2d forward, {name}", lambda m=m: k.conv2d_winograd_forward(x, w, b, p1, m),
                     t.get("conv_fwd"), flops, "GFLOP/s"),
                Case(f"conv2d input grad, {name}", lambda m=m: k.conv2d_winograd_backward_input(g, w, x.shape, p1, m),
                     t.get("conv_dx"), flops, "GFLOP/s"),
                Case(f"conv2d weight+bias grad, {name}",
                     lambda m=m: k.conv2d_winograd_backward_params(g, x, w.shape, p1, True, m),
                     t.get("conv_dw"), flops, "GFLOP/s"),
            ]
    return convs + [
        Case("relu forward", lambda: k.relu_forward(x), t.get("relu_fwd"), 2 * nbytes, "GB/s"),
        Case("relu backward", lambda: k.relu_backward(g, y_relu), t.get("relu_bwd"), 3 * nbytes, "GB/s"),
        Case("sigmoid forward", lambda: k.sigmoid_forward(x), t.get("sig_fwd"), 2 * nbytes, "GB/s"),
        Case("sigmoid backward", lambda: k.sigmoid_backward(g, y_sig), t.get("sig_bwd"), 3 * nbytes, "GB/s"),
        Case("avg pool forward", lambda: k.avg_pool_forward(x), t.get("gap_fwd"), nbytes, "GB/s"),
        Case("avg pool backward", lambda: k.avg_pool_backward(pooled_g, x.shape), t.get("gap_bwd"), nbytes, "GB/s"),
        Case("pixel shuffle (x2)", lambda: k.pixel_shuffle(xs, 2), t.get("ps"), 2 * xs.nbytes, "GB/s"),
        Case("pixel unshuffle (x2)", lambda: k.pixel_unshuffle(ys, 2), t.get("pus"), 2 * xs.nbytes, "GB/s"),
    ]


def _torch_ops(x, w, b, g, y_relu, y_sig, pooled_g, xs, ys, device: str = "cpu") -> dict[str, Callable[[], object]]:
    try:
        import torch
    except ImportError:
        return {}
    tx, tw, tb, tg = (torch.from_numpy(a).to(device) for a in (x, w, b, g))
    ty_relu, ty_sig, tpg = (torch.from_numpy(a).to(device) for a in (y_relu, y_sig, pooled_g))
    txs, tys = torch.from_numpy(xs).to(device), torch.from_numpy(ys).to(device)
    F = torch.nn.functional
    conv_bwd = torch.ops.aten.convolution_backward

    def conv_grad(mask):
        return lambda: conv_bwd(tg, tx, tw, [tw.shape[0]], [1, 1], [1, 1], [1, 1], False, [0, 0], 1, mask)

    # None of these tensors requires a gradient, so PyTorch records no graph.
    return {
        "conv_fwd": lambda: F.conv2d(tx, tw, tb, padding=1),
        "conv_dx": conv_grad([True, False, False]),
        "conv_dw": conv_grad([False, True, True]),
        "relu_fwd": lambda: torch.relu(tx),
        "relu_bwd": lambda: torch.ops.aten.threshold_backward(tg, ty_relu, 0),
        "sig_fwd": lambda: torch.sigmoid(tx),
        "sig_bwd": lambda: torch.ops.aten.sigmoid_backward(tg, ty_sig),
        "gap_fwd": lambda: F.adaptive_avg_pool2d(tx, 1),
        "gap_bwd": lambda: torch.ops.aten._adaptive_avg_pool2d_backward(tpg, tx),
        "ps": lambda: F.pixel_shuffle(txs, 2),
        "pus": lambda: F.pixel_unshuffle(tys, 2),
    }


def run_kernels(n: int, c: int, hw: int, repeats: int, with_torch: bool = True, device: str = "cpu") -> list[dict]:
    """Time every case: all of minircan's first, then all of PyTorch's.

    Two phases, not alternating: PyTorch's OpenMP workers keep spinning for a while after each call, and on
    a 2-core machine a spinning worker halves the speed of whatever runs next (measured here: a conv2d
    forward timed right after a PyTorch call took 2x as long).
    """
    cases = kernel_cases(n, c, hw, with_torch=with_torch, device=device, torch_device=device)
    sync, inner = device_sync(device), (1 if device == "cpu" else 10)
    ours = [median_time(case.ours, repeats, sync=sync, inner=inner) for case in cases]
    timed: dict[int, float] = {}  # several rows (one per algorithm) share one PyTorch call: time it once
    for case in cases:
        if case.torch is not None and id(case.torch) not in timed:
            timed[id(case.torch)] = median_time(case.torch, repeats, sync=sync, inner=inner)
    refs = [timed[id(case.torch)] if case.torch is not None else None for case in cases]
    return [dict(name=case.name, ours=t, torch=ref, rate=case.work / t / 1e9, unit=case.unit,
                 ratio=None if ref is None else t / ref) for case, t, ref in zip(cases, ours, refs)]


def format_table(rows: list[dict]) -> str:
    lines = ["| kernel | minircan (ms) | PyTorch (ms) | minircan throughput | ratio (minircan / PyTorch) |",
             "|---|---:|---:|---:|---:|"]
    for r in rows:
        ref = "-" if r["torch"] is None else f"{r['torch'] * 1e3:.2f}"
        ratio = "-" if r["ratio"] is None else f"{r['ratio']:.2f}x"
        lines.append(f"| {r['name']} | {r['ours'] * 1e3:.2f} | {ref} | {r['rate']:.1f} {r['unit']} | {ratio} |")
    return "\n".join(lines)


