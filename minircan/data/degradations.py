"""How a low-resolution image is made from a high-resolution one: RCAN's BI and BD degradations.

BI (bicubic)  LR = imresize(modcrop(HR, s), 1/s, 'bicubic'): MATLAB bicubic with antialiasing (imresize.py).
BD (blur-down) as the official ``imresize_BD`` in RCAN_TestCode/Prepare_TestData_HR_LR.m (RCAN reports BD at
              x3 only; other integer scales follow the same function):
              odd s:  blur with fspecial('gaussian', 7 if s == 3 else 11, 1.6) ('replicate' borders), then
                      imresize(blur, 1/s, 'nearest'), which keeps 0-based pixel s * i + s // 2 (derived in
                      ``nearest_indices``): the centre of each s x s block;
              even s: blur with fspecial('gaussian', 12, 1.6), then blur(s/2 : s : end - s/2) (1-based), i.e.
                      0-based pixel s * i + s / 2 - 1.
Both take uint8 and return uint8 of shape (H // s, W // s, 3).
"""

from __future__ import annotations

import math

import numpy as np

from .imresize import imresize, modcrop

DEGRADATIONS = ("BI", "BD")
BD_SIGMA = 1.6


def gaussian_kernel(size: int, sigma: float) -> np.ndarray:
    """MATLAB ``fspecial('gaussian', size, sigma)``: (size, size), h(x, y) ~ exp(-(x^2 + y^2) / (2 sigma^2)).

    x and y run over -(size - 1)/2 .. (size - 1)/2 (half-integers for even sizes); values below eps * max are
    zeroed (as MATLAB does; none are, for the sizes used here); normalised to sum 1.
    """
    r = (size - 1) / 2
    x = np.arange(size, dtype=np.float64) - r
    h = np.exp(-(x[None, :] ** 2 + x[:, None] ** 2) / (2 * sigma * sigma))
    h[h < np.finfo(np.float64).eps * h.max()] = 0
    return h / h.sum()


def bd_kernel_size(scale: int) -> int:
    """The official BD blur size for an integer scale: 7 at x3, else ceil(3 sigma) * 2 + 1 (odd s) or + 2 (even s)."""
    if scale == 3:
        return 7
    return math.ceil(BD_SIGMA * 3) * 2 + (1 if scale % 2 else 2)


def imfilter_replicate(img: np.ndarray, size: int, sigma: float) -> np.ndarray:
    """MATLAB ``imfilter(img, fspecial('gaussian', size, sigma), 'replicate')`` on uint8 (H, W[, C]) -> uint8.

    Correlation with the kernel's centre at 0-based (size - 1) // 2 (MATLAB's floor((size + 1) / 2), 1-based),
    edge pixels repeated outside the image, rounded half up. The Gaussian is separable, h = g g^T with
    g = exp(-x^2 / (2 sigma^2)) / sum, so it is applied as two 1-D passes in float64 (equal to the 2-D sum to
    about 1e-13, far from changing a rounding except at an exact .5, which these weights never produce).
    """
    r = (size - 1) / 2
    x = np.arange(size, dtype=np.float64) - r
    g = np.exp(-x * x / (2 * sigma * sigma))
    g = g / g.sum()
    before = (size - 1) // 2            # taps before the centre; after = size - 1 - before
    after = size - 1 - before
    out = img.astype(np.float64)
    for axis in (0, 1):
        pad = [(0, 0)] * out.ndim
        pad[axis] = (before, after)
        padded = np.pad(out, pad, mode="edge")
        n = out.shape[axis]
        acc = None
        for t in range(size):
            term = g[t] * np.take(padded, np.arange(t, t + n), axis=axis)
            acc = term if acc is None else acc + term
        out = acc
    return np.clip(np.floor(out + 0.5), 0, 255).astype(np.uint8)


def nearest_indices(n_out: int, scale: int) -> np.ndarray:
    """0-based input pixels that MATLAB ``imresize(x, 1/scale, 'nearest')`` keeps, for an integer scale.

    MATLAB's nearest is its resampler with the box kernel box(d) = [-0.5 <= d < 0.5] of width 1, no
    antialiasing. Output pixel i (1-based) has centre u = i * s + 0.5 * (1 - s), and the one tap of weight 1
    is the j with -0.5 <= u - j < 0.5: j = floor(u + 0.5) = floor(i s + 1 - s / 2), that is
    i s - (s - 1) / 2 for odd s and i s - s / 2 + 1 for even s. With i0 = i - 1 and j0 = j - 1 (0-based),
    both read j0 = s * i0 + s // 2:
    x2: 1, 3, 5, ...; x3: 1, 4, 7, ... (block centres); x4: 2, 6, 10, ...
    """
    return scale * np.arange(n_out) + scale // 2


def degrade(hr: np.ndarray, scale: int, kind: str = "BI") -> np.ndarray:
    """The LR image (H // s, W // s, 3) uint8 of a uint8 HR image (modcropped here first) by BI or BD."""
    if kind not in DEGRADATIONS:
        raise ValueError(f"unknown degradation {kind!r}: expected one of {', '.join(DEGRADATIONS)} "
                         "(BI: bicubic downscale; BD: Gaussian blur sigma 1.6, then downscale)")
    hr = np.asarray(hr)
    if hr.dtype != np.uint8:
        raise ValueError(f"degrade expects a uint8 image, got dtype {hr.dtype}")
    if isinstance(scale, bool) or not float(scale).is_integer() or scale < 1:
        raise ValueError(f"degrade: scale must be a positive integer, got {scale!r}")
    scale = int(scale)
    if hr.shape[0] < scale or hr.shape[1] < scale:
        raise ValueError(f"degrade: an image of {hr.shape[1]}x{hr.shape[0]} pixels is smaller than the scale "
                         f"{scale}: its LR image would be empty; use a scale of at most {min(hr.shape[:2])}")
    hr = modcrop(hr, scale)
    if kind == "BI":
        return imresize(hr, 1 / scale)
    blurred = imfilter_replicate(hr, bd_kernel_size(scale), BD_SIGMA)
    h, w = hr.shape[0] // scale, hr.shape[1] // scale
    if scale % 2:
        rows, cols = nearest_indices(h, scale), nearest_indices(w, scale)
    else:
        rows, cols = scale * np.arange(h) + scale // 2 - 1, scale * np.arange(w) + scale // 2 - 1
    return np.ascontiguousarray(blurred[rows][:, cols])
