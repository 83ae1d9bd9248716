"""Backend settings, as ``torch.backends``: which algorithm computes a convolution.

    import minircan
    minircan.backends.conv_algorithm = "im2col"           # for the rest of the program
    with minircan.backends.flags(conv_algorithm="winograd"):
        y = model(x)                                       # only here

``conv_algorithm``:
- ``"auto"`` (the default): Winograd F(4x4, 3x3) for the convolutions where it applies (3x3 kernel, stride 1,
  any padding, on a device whose kernel table has it: the CPU) and pays: at least WINOGRAD_MIN_CHANNELS (16)
  input channels and an input of at least WINOGRAD_MIN_PIXELS (2^14) pixels, N H W, where the caller gives
  the input's shape (the conv op does); im2col + BLAS for every other one. Measured with
  ``python -m minircan.bench --algorithms`` (README, "Convolution algorithms"; 2 threads, float32): on a
  batch of 16 48x48 images, Winograd takes 0.24-0.97x im2col's time from 16 input channels on (the 3 -> C
  head: 0.96-1.74x); on train --tiny's batch of 8 20x20 images (3,200 pixels), 0.93-1.25x in the body's
  16 -> 16 convs, where the setup of a call (weight transform, blocks, threads) eats the savings. float64
  speed was not measured; its error stays near 1e-15 (tested below 1e-10). float32 error is about 15x
  im2col's (up to 8e-6 relative on RCAN-like data): choose "im2col" where that matters.
- ``"im2col"``: im2col + BLAS everywhere: the reference path, with PyTorch's float32 accuracy.
- ``"winograd"``: Winograd wherever it applies, whatever the channels; im2col elsewhere.
``winograd_tile``: 4 (F(4x4, 3x3), 4x fewer multiplications than direct, the default) or 2 (F(2x2, 3x3),
2.25x fewer, smaller rounding error: the teaching rung).

The choice is made once per convolution at its forward, and its backward uses the same algorithm.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .kernels.table import KernelTable

CONV_ALGORITHMS = ("auto", "im2col", "winograd")
WINOGRAD_TILES = (2, 4)

WINOGRAD_MIN_CHANNELS = 16  # auto's thresholds, from the measurement above: input channels,
WINOGRAD_MIN_PIXELS = 2**14  # and pixels of the input (N H W)

conv_algorithm: str = "auto"
winograd_tile: int = 4


def check() -> None:
    """Raise ValueError if a setting holds a value minircan does not know."""
    if conv_algorithm not in CONV_ALGORITHMS:
        raise ValueError(f"minircan.backends.conv_algorithm is {conv_algorithm!r}; set it to one of "
                         f"{', '.join(repr(a) for a in CONV_ALGORITHMS)}")
    if winograd_tile not in WINOGRAD_TILES:
        raise ValueError(f"minircan.backends.winograd_tile is {winograd_tile!r}; set it to 2 or 4")


def conv_algorithm_for(kernels: KernelTable, w_shape: tuple, stride: tuple, x_shape: tuple | None = None) -> str:
    """The algorithm that computes a convolution of weight shape w_shape at this stride, on the device whose
    kernel table is ``kernels`` (Winograd only where ``kernels.has_winograd``): 'winograd' or 'im2col'.
    ``x_shape`` (N, C, H, W), where given, lets ``auto`` keep im2col for inputs under WINOGRAD_MIN_PIXELS."""
    check()
    if conv_algorithm == "im2col" or not kernels.has_winograd:
        return "im2col"
    if tuple(w_shape[2:]) != (3, 3) or tuple(stride) != (1, 1):
        return "im2col"
    if conv_algorithm == "auto":
        if w_shape[1] < WINOGRAD_MIN_CHANNELS:
            return "im2col"
        if x_shape is not None and x_shape[0] * x_shape[2] * x_shape[3] < WINOGRAD_MIN_PIXELS:
            return "im2col"
    return "winograd"


@contextmanager
def flags(conv_algorithm: str | None = None, winograd_tile: int | None = None) -> Iterator[None]:
    """Set the given settings inside a ``with`` block and restore the previous ones after it (even on error)."""
    g = globals()
    saved = {k: g[k] for k in ("conv_algorithm", "winograd_tile")}
    try:
        if conv_algorithm is not None:
            g["conv_algorithm"] = conv_algorithm
        if winograd_tile is not None:
            g["winograd_tile"] = winograd_tile
        check()
        yield
    finally:
        g.update(saved)
