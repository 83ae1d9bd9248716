"""PSNR and SSIM as the RCAN papers report them: on the Y channel, ``border`` pixels shaved from each side.

The official numbers come from MATLAB (RCAN_TestCode/Evaluate_PSNR_SSIM.m); this reproduces its steps on
uint8 RGB images (H, W, 3):

    Y     = 16 + (65.481 R + 128.553 G + 24.966 B) / 255        float, not rounded; in [16, 235]
    shave border (= the scale) pixels from each side
    PSNR  = 10 log10(255^2 / mean((Y_sr - Y_hr)^2))              inf for identical images
    SSIM  = mean of the map ((2 mu1 mu2 + C1)(2 s12 + C2)) / ((mu1^2 + mu2^2 + C1)(s1^2 + s2^2 + C2)),
            local statistics under an 11x11 Gaussian window (sigma 1.5, sum 1) over 'valid' positions only,
            C1 = (0.01 * 255)^2, C2 = (0.03 * 255)^2                  (Zhou Wang's ssim_index)

A network's float output is ``quantize``d to uint8 first, as the official code saves PNGs.
"""

from __future__ import annotations

import numpy as np

Y_WEIGHTS = np.array([65.481, 128.553, 24.966])  # ITU-R BT.601 for R, G, B in [0, 1], MATLAB's rgb2ycbcr
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_C1 = (0.01 * 255) ** 2
SSIM_C2 = (0.03 * 255) ** 2


def rgb_to_y(img: np.ndarray) -> np.ndarray:
    """Y (H, W) float64 of an RGB image (H, W, 3) on the 0..255 scale: 16 + (65.481 R + 128.553 G + 24.966 B) / 255."""
    img = np.asarray(img)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"rgb_to_y expects an (H, W, 3) RGB image, got shape {img.shape}")
    rgb = img.astype(np.float64)
    return 16 + (Y_WEIGHTS[0] * rgb[..., 0] + Y_WEIGHTS[1] * rgb[..., 1] + Y_WEIGHTS[2] * rgb[..., 2]) / 255


def quantize(img: np.ndarray) -> np.ndarray:
    """A float image (any shape) clipped to 0..255 and rounded to uint8 (half to even, as torch.round)."""
    img = np.asarray(img)
    if np.issubdtype(img.dtype, np.floating) and np.isnan(img).any():
        raise ValueError(f"quantize: the image has {int(np.isnan(img).sum())} NaN values (did training diverge?)")
    return np.rint(np.clip(img, 0, 255)).astype(np.uint8)


def _y_pair(sr: np.ndarray, hr: np.ndarray, border: int) -> tuple[np.ndarray, np.ndarray]:
    """The Y channels of sr and hr with border pixels shaved from each side, after checking the inputs."""
    sr, hr = np.asarray(sr), np.asarray(hr)
    if sr.shape != hr.shape:
        raise ValueError(f"sr and hr must have the same shape, got sr {sr.shape} and hr {hr.shape}")
    if sr.ndim != 3 or sr.shape[2] != 3:
        raise ValueError(f"expected RGB images of shape (H, W, 3), got {sr.shape}")
    if sr.dtype != np.uint8 or hr.dtype != np.uint8:
        raise ValueError(f"expected uint8 images, got sr {sr.dtype} and hr {hr.dtype} (quantize() float output "
                         "first, as the official evaluation measures saved PNGs)")
    border = int(border)
    h, w = sr.shape[:2]
    if border < 0 or 2 * border >= min(h, w):
        raise ValueError(f"border {border} leaves nothing of a {h}x{w} image")
    crop = (slice(border, h - border), slice(border, w - border))
    return rgb_to_y(sr[crop]), rgb_to_y(hr[crop])


def psnr(sr: np.ndarray, hr: np.ndarray, border: int) -> float:
    """PSNR in dB on the Y channel of uint8 RGB (H, W, 3) images, border pixels shaved; inf when identical."""
    y_sr, y_hr = _y_pair(sr, hr, border)
    mse = float(np.mean((y_sr - y_hr) ** 2))
    return float("inf") if mse == 0 else float(10 * np.log10(255.0 ** 2 / mse))


def gaussian_window(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> np.ndarray:
    """The 1-D factor g (size,) of SSIM's window: g_k ~ exp(-k^2 / (2 sigma^2)), k = -(size-1)/2..., sum 1.

    The 2-D window fspecial('gaussian', size, sigma) is the outer product g g^T.
    """
    k = np.arange(size, dtype=np.float64) - (size - 1) / 2
    g = np.exp(-k * k / (2 * sigma * sigma))
    return g / g.sum()


def _filter_valid(x: np.ndarray, g: np.ndarray) -> np.ndarray:
    """'valid' correlation of (H, W) x with the window g g^T: (H - n + 1, W - n + 1), rows then columns.

    out[i, j] = sum_a sum_b g[a] g[b] x[i + a, j + b], as n shifted slices per axis (no padding, no copies
    of n-times the image).
    """
    n = g.size
    h, w = x.shape
    cols = g[0] * x[: h - n + 1]
    for a in range(1, n):
        cols = cols + g[a] * x[a: a + h - n + 1]          # weighted sums down each column
    out = g[0] * cols[:, : w - n + 1]
    for b in range(1, n):
        out = out + g[b] * cols[:, b: b + w - n + 1]      # then along each row
    return out


def ssim_map(sr: np.ndarray, hr: np.ndarray, border: int) -> np.ndarray:
    """The SSIM map (H - 2 border - 10, W - 2 border - 10) on the Y channel (see ``ssim``)."""
    x, y = _y_pair(sr, hr, border)
    if min(x.shape) < SSIM_WINDOW:
        raise ValueError(f"SSIM needs at least {SSIM_WINDOW}x{SSIM_WINDOW} pixels after shaving {border}, "
                         f"got {x.shape[0]}x{x.shape[1]}")
    g = gaussian_window()
    mu1, mu2 = _filter_valid(x, g), _filter_valid(y, g)
    mu1_sq, mu2_sq, mu1_mu2 = mu1 * mu1, mu2 * mu2, mu1 * mu2
    sigma1_sq = _filter_valid(x * x, g) - mu1_sq       # E[x^2] - E[x]^2
    sigma2_sq = _filter_valid(y * y, g) - mu2_sq
    sigma12 = _filter_valid(x * y, g) - mu1_mu2        # E[xy] - E[x]E[y]
    return (((2 * mu1_mu2 + SSIM_C1) * (2 * sigma12 + SSIM_C2))
            / ((mu1_sq + mu2_sq + SSIM_C1) * (sigma1_sq + sigma2_sq + SSIM_C2)))


def ssim(sr: np.ndarray, hr: np.ndarray, border: int) -> float:
    """SSIM (Zhou Wang's ssim_index) on the Y channel of uint8 RGB (H, W, 3) images, border pixels shaved.

    11x11 Gaussian window (sigma 1.5), K1 = 0.01, K2 = 0.03, L = 255, statistics at 'valid' positions only;
    the mean of the SSIM map. 1.0 for identical images.
    """
    return float(np.mean(ssim_map(sr, hr, border)))
