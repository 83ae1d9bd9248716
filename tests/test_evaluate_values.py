"""The numbers that ``python -m minircan.evaluate --bicubic`` prints, not only the names.

Each printed PSNR/SSIM is recomputed here by a second, independent implementation of the official protocol
(Evaluate_PSNR_SSIM.m: Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255 as a matrix product, ``scale``
pixels shaved from each border, PSNR from the MSE, SSIM with an 11x11 Gaussian window, sigma 1.5, over
every full window position, C1 = (0.01 * 255)^2, C2 = (0.03 * 255)^2), on the same bicubic images. The
values are also pinned: measured once with this command and shown in the README's results table (bicubic
column), so that a change of the degradation or the resampler shows too.
"""

import re

import numpy as np
import pytest

from minircan import evaluate
from minircan.data import make_pairs, sample_images
from minircan.data.imresize import imresize

PINNED = {"chelsea": (35.10, 0.9147), "coffee": (30.03, 0.8722), "mean of 2": (32.56, 0.8935)}


def _y(img):
    m = np.array([65.481, 128.553, 24.966]) / 255
    return img.astype(np.float64) @ m + 16


def _psnr(sr, hr, s):
    a, b = _y(sr)[s:-s, s:-s], _y(hr)[s:-s, s:-s]
    return 10 * np.log10(255.0**2 / np.mean((a - b) ** 2))


def _ssim(sr, hr, s):
    x, y = _y(sr)[s:-s, s:-s], _y(hr)[s:-s, s:-s]
    k = np.arange(11) - 5.0
    g = np.exp(-(k[:, None] ** 2 + k[None, :] ** 2) / (2 * 1.5**2))
    g /= g.sum()                                               # fspecial('gaussian', 11, 1.5)

    def filt(a):                                               # 'valid' 2-D correlation, all 121 taps at once
        win = np.lib.stride_tricks.sliding_window_view(a, (11, 11))
        return np.einsum("ijab,ab->ij", win, g)

    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mx, my = filt(x), filt(y)
    vx, vy, cxy = filt(x * x) - mx**2, filt(y * y) - my**2, filt(x * y) - mx * my
    return float(np.mean((2 * mx * my + c1) * (2 * cxy + c2) / ((mx**2 + my**2 + c1) * (vx + vy + c2))))


def _printed(out):
    rows = {}
    for line in out.splitlines():
        m = re.match(r"samples\s+(.+?)\s+(\d+\.\d{2})\s+(\d\.\d{4})", line)
        if m:
            rows[m.group(1)] = (float(m.group(2)), float(m.group(3)))
    return rows


def test_evaluate_bicubic_prints_the_protocols_values(capsys):
    assert evaluate.main(["--bicubic"]) == 0
    printed = _printed(capsys.readouterr().out)
    assert set(printed) == set(PINNED)
    scale = 2
    mine = {}
    for pair in make_pairs(sample_images("val"), scale):
        sr = imresize(pair.lr, scale)[: pair.hr.shape[0], : pair.hr.shape[1]]
        mine[pair.name] = (_psnr(sr, pair.hr, scale), _ssim(sr, pair.hr, scale))
    mine["mean of 2"] = tuple(np.mean([v[i] for v in mine.values()]) for i in (0, 1))
    for name, (p, s) in printed.items():
        assert p == pytest.approx(mine[name][0], abs=0.005 + 1e-9), (name, "PSNR", p, mine[name][0])
        assert s == pytest.approx(mine[name][1], abs=0.00005 + 1e-9), (name, "SSIM", s, mine[name][1])
        assert (p, s) == PINNED[name], name
