"""The algorithm benchmark: im2col against Winograd F(4x4) on every 3x3 convolution shape of one RCAN
configuration (head, body, upsampler, tail) at one batch, with what ``auto`` picks for each: the measurement
behind ``minircan.backends.WINOGRAD_MIN_CHANNELS`` and ``WINOGRAD_MIN_PIXELS``."""

from __future__ import annotations

import numpy as np

from .. import backends
from ..device import device as get_device
from ..models.rcan import RCAN
from ..nn import Conv2d
from .common import median_time

def conv_shapes(config: str, scale: int, n: int, hw: int) -> list[tuple[str, tuple, tuple]]:
    """(name, x shape, w shape) of each 3x3 convolution of RCAN(config, scale) on a batch of n hw x hw
    images, once per distinct shape, read off the model itself: ``summary`` on one 2x2 image gives each conv's
    output size, which scales with hw, and a 3x3 conv at padding 1 keeps its input's size. Named by where it
    sits: head, body, upsampler (numbered where there are several) and tail."""
    model = RCAN.from_config(config, scale=scale)
    modules = dict(model.named_modules())
    found: dict[tuple, str] = {}
    for row in model.summary((1, 3, 2, 2), max_depth=len(modules)).rows:
        conv = modules[row.name]
        if isinstance(conv, Conv2d) and conv.kernel_size == (3, 3):
            _, _, ho, wo = row.output_shape
            x_shape = (n, conv.in_channels, ho * hw // 2, wo * hw // 2)
            part = row.name.split(".")[0]
            found.setdefault((x_shape, tuple(conv.weight.shape)),
                             "upsampler" if row.name.startswith("tail.0.") else part)
    upsamplers = sum(name == "upsampler" for name in found.values())
    shapes, seen = [], 0
    for (x_shape, w_shape), name in found.items():
        if name == "upsampler" and upsamplers > 1:
            seen += 1
            name = f"upsampler {seen}"
        shapes.append((name, x_shape, w_shape))
    return shapes


def _times(k, x, w, b, g, repeats: int) -> dict[str, list[float]]:
    """Median seconds of forward, input gradient and weight+bias gradient, by im2col and by Winograd F(4x4)."""
    p, s = (1, 1), (1, 1)
    calls = {
        "im2col": (lambda: k.conv2d_forward(x, w, b, s, p), lambda: k.conv2d_backward_input(g, w, x.shape, s, p),
                   lambda: k.conv2d_backward_params(g, x, w.shape, s, p, True)),
        "winograd": (lambda: k.conv2d_winograd_forward(x, w, b, p, 4),
                     lambda: k.conv2d_winograd_backward_input(g, w, x.shape, p, 4),
                     lambda: k.conv2d_winograd_backward_params(g, x, w.shape, p, True, 4)),
    }
    return {alg: [median_time(fn, repeats) for fn in fns] for alg, fns in calls.items()}


def run_algorithms(config: str, scale: int, n: int, hw: int, repeats: int) -> list[dict]:
    """Median times (s) of each conv shape's forward, input gradient and weight+bias gradient by im2col and
    by Winograd F(4x4) on the CPU (float32, padding 1), and the algorithm ``auto`` picks for it."""
    k = get_device("cpu").kernels
    rng = np.random.default_rng(0)
    rows = []
    for name, x_shape, w_shape in conv_shapes(config, scale, n, hw):
        x = rng.standard_normal(x_shape).astype(np.float32)
        w = (rng.standard_normal(w_shape) * 0.05).astype(np.float32)
        b = rng.standard_normal(w_shape[0]).astype(np.float32)
        g = rng.standard_normal((n, w_shape[0], *x_shape[2:])).astype(np.float32)
        with backends.flags(conv_algorithm="auto", winograd_tile=4):
            auto = backends.conv_algorithm_for(k, w_shape, (1, 1), x_shape)
        rows.append(dict(name=name, x_shape=x_shape, w_shape=w_shape, auto=auto, **_times(k, x, w, b, g, repeats)))
    return rows


def format_algorithms(rows: list[dict]) -> str:
    lines = ["| conv | input (N, C, H, W) | C -> K | im2col ms (fwd / input grad / weight grad) | Winograd F(4x4) ms "
             "| F(4x4) / im2col | auto |", "|---|---|---|---:|---:|---:|---|"]
    for r in rows:
        ms = {alg: " / ".join(f"{t * 1e3:.2f}" for t in r[alg]) for alg in ("im2col", "winograd")}
        ratios = " / ".join(f"{w / i:.2f}x" for w, i in zip(r["winograd"], r["im2col"]))
        c, k = r["w_shape"][1], r["w_shape"][0]
        lines.append(f"| {r['name']} | {r['x_shape']} | {c} -> {k} | {ms['im2col']} | {ms['winograd']} | {ratios} "
                     f"| {r['auto']} |")
    return "\n".join(lines)
