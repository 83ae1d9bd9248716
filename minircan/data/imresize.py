"""MATLAB's ``imresize(img, scale, 'bicubic')``, bit for bit on uint8 images, and ``modcrop``.

The official RCAN low-resolution images were made in MATLAB, so training and evaluation need its resampler,
not Pillow's or OpenCV's (they differ at the borders and in rounding; notebook 06 measures by how much).

Per axis of input length N and output length M = ceil(N * scale):

    kernel      k(x) = 1.5|x|^3 - 2.5|x|^2 + 1            |x| <= 1      (Keys cubic, a = -0.5, width 4)
                       -0.5|x|^3 + 2.5|x|^2 - 4|x| + 2     1 < |x| <= 2
    antialias   scale < 1: width 4 / scale and h(d) = scale * k(scale * d)  (the kernel stretched to the output
                pixel's footprint, so it low-passes before subsampling); scale >= 1: width 4, h = k
    centre      output pixel i = 1..M (1-based) sits at input coordinate u = i / scale + 0.5 * (1 - 1 / scale)
    taps        j = floor(u - width / 2) + 0 .. P - 1, P = ceil(width) + 2; w_ij = h(u - j) / sum_j h(u - j)
    borders     out-of-range j clamped to 1..N (the edge pixel repeats)
    output      y_i = sum_j w_ij x_j; rows (axis 0) first, then columns (axis 1)

uint8 input stays uint8 after *each* 1-D pass: rounded half up, floor(x + 0.5), and clipped to 0..255, as
MATLAB keeps the class between passes (this reproduces the official LR PNGs with 0 differing pixels;
rounding once at the end differs by up to 2 grey levels on 10-14 % of pixels). Float input is resized in
float64 without rounding.
"""

from __future__ import annotations

import math

import numpy as np


def cubic(x: np.ndarray) -> np.ndarray:
    """Keys' cubic convolution kernel with a = -0.5 (MATLAB's ``cubic``), support [-2, 2]."""
    ax = np.abs(x)
    ax2 = ax * ax
    ax3 = ax2 * ax
    return ((1.5 * ax3 - 2.5 * ax2 + 1) * (ax <= 1)
            + (-0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2) * ((1 < ax) & (ax <= 2)))


def contributions(in_length: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """The resampling table of one axis: (weights (M, T) float64, indices (M, T) int64, 0-based, clamped).

    Row i holds the T taps of output pixel i; each row of weights sums to 1. Tap columns that are zero
    for every output pixel are dropped, as MATLAB does (they contribute exactly nothing).
    """
    out_length = math.ceil(in_length * scale)
    if scale < 1:
        width = 4.0 / scale

        def h(d):
            return scale * cubic(scale * d)
    else:
        width = 4.0
        h = cubic
    i = np.arange(1, out_length + 1, dtype=np.float64)
    u = i / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(u - width / 2)
    taps = math.ceil(width) + 2
    j = left[:, None] + np.arange(taps, dtype=np.float64)[None, :]
    weights = h(u[:, None] - j)
    # Normalise with a left-to-right sum (not NumPy's pairwise one) so that the table is reproducible by a
    # plain loop to the last bit: the tests compare against one.
    total = weights[:, 0].copy()
    for t in range(1, taps):
        total += weights[:, t]
    weights = weights / total[:, None]
    indices = np.clip(j, 1, in_length).astype(np.int64) - 1
    keep = np.any(weights != 0, axis=0)
    return weights[:, keep], indices[:, keep]


def _resize_axis(x: np.ndarray, axis: int, scale: float, round_uint8: bool) -> np.ndarray:
    """One 1-D pass along axis 0 or 1 of float64 x: y = sum_t w[:, t] * x[idx[:, t]], taps left to right."""
    weights, indices = contributions(x.shape[axis], scale)
    shape = [1] * x.ndim
    shape[axis] = weights.shape[0]
    out = None
    for t in range(weights.shape[1]):
        term = weights[:, t].reshape(shape) * np.take(x, indices[:, t], axis=axis)
        out = term if out is None else out + term
    if round_uint8:
        # MATLAB's uint8(): round half away from zero (floor(x + 0.5) for x >= 0), saturate to 0..255.
        out = np.clip(np.floor(out + 0.5), 0, 255)
    return out


def imresize(img: np.ndarray, scale: float) -> np.ndarray:
    """MATLAB ``imresize(img, scale, 'bicubic')`` of an (H, W) or (H, W, C) image.

    Output (ceil(H * scale), ceil(W * scale)[, C]). uint8 in -> uint8 out (rounded after each pass);
    float in -> float64 out (not rounded, not clipped).
    """
    img = np.asarray(img)
    if img.ndim not in (2, 3):
        raise ValueError(f"imresize expects an (H, W) or (H, W, C) image, got shape {img.shape}")
    if img.dtype == np.uint8:
        is_uint8 = True
    elif np.issubdtype(img.dtype, np.floating):
        is_uint8 = False
    else:
        raise ValueError(f"imresize supports uint8 and float images, got dtype {img.dtype}")
    if img.shape[0] == 0 or img.shape[1] == 0:
        raise ValueError(f"imresize: empty image of shape {img.shape}")
    scale = float(scale)
    if not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"imresize: scale must be a positive number, got {scale}")
    x = img.astype(np.float64)
    x = _resize_axis(x, 0, scale, is_uint8)   # rows first, as MATLAB does for equal scales
    x = _resize_axis(x, 1, scale, is_uint8)
    return x.astype(np.uint8) if is_uint8 else x


def modcrop(img: np.ndarray, scale: int) -> np.ndarray:
    """Crop the bottom rows and right columns so that H and W are multiples of scale (MATLAB ``modcrop``)."""
    if isinstance(scale, bool) or not float(scale).is_integer() or scale < 1:
        raise ValueError(f"modcrop: scale must be a positive integer, got {scale!r}")
    scale = int(scale)
    h, w = img.shape[:2]
    if h < scale or w < scale:
        raise ValueError(f"an image of {w}x{h} pixels is smaller than the scale {scale}: its low-resolution "
                         f"version would be empty; use a scale of at most {min(h, w)} or a larger image")
    return img[: h - h % scale, : w - w % scale]
