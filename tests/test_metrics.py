"""minircan.metrics: Y conversion, quantisation, PSNR by hand, SSIM against a slow windowed reference."""

import math

import numpy as np
import pytest

from minircan.metrics import psnr, quantize, rgb_to_y, ssim, ssim_map


def random_pair(rng, shape=(24, 27, 3), noise=12):
    hr = rng.integers(0, 256, shape, dtype=np.uint8)
    sr = np.clip(hr.astype(int) + rng.integers(-noise, noise + 1, shape), 0, 255).astype(np.uint8)
    return sr, hr


def test_y_of_pure_colours():
    colours = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255], [0, 0, 0]]], np.uint8)
    y = rgb_to_y(colours)
    assert y.shape == (1, 5) and y.dtype == np.float64
    np.testing.assert_allclose(y[0], [16 + 65.481, 16 + 128.553, 16 + 24.966, 235, 16], rtol=0, atol=1e-12)
    grey = np.full((2, 2, 3), 51, np.uint8)                 # not rounded: 16 + 219 * 51 / 255 = 59.8
    np.testing.assert_allclose(rgb_to_y(grey), 59.8, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="shape"):
        rgb_to_y(np.zeros((3, 4, 4)))


def test_quantize():
    x = np.array([0.5, 1.5, 2.5, -3.0, 300.0, 254.6, 254.4, 17.0])
    np.testing.assert_array_equal(quantize(x), [0, 2, 2, 0, 255, 255, 254, 17])  # half to even, as torch.round
    assert quantize(x).dtype == np.uint8
    assert quantize(np.zeros((2, 3, 4, 5), np.float32)).shape == (2, 3, 4, 5)
    with pytest.raises(ValueError, match="NaN"):
        quantize(np.array([1.0, np.nan]))


def test_psnr_identical_is_inf(rng):
    img = rng.integers(0, 256, (10, 10, 3), dtype=np.uint8)
    assert psnr(img, img.copy(), 2) == math.inf


def test_psnr_by_hand():
    hr = np.zeros((4, 4, 3), np.uint8)                      # Y = 16 everywhere
    sr = hr.copy()
    sr[1, 2] = 255                                          # one white pixel: Y = 235, error 219
    mse = 219 ** 2 / 16
    assert psnr(sr, hr, 0) == pytest.approx(10 * math.log10(255 ** 2 / mse), abs=1e-12)
    assert psnr(sr, hr, 0) == pytest.approx(13.3631, abs=1e-4)
    assert psnr(sr, hr, 1) == pytest.approx(10 * math.log10(255 ** 2 / (219 ** 2 / 4)), abs=1e-12)  # 2x2 left


def test_border_cropping(rng):
    sr, hr = random_pair(rng)
    b = 3
    assert psnr(sr, hr, b) == psnr(sr[b:-b, b:-b], hr[b:-b, b:-b], 0)
    assert ssim(sr, hr, b) == ssim(sr[b:-b, b:-b], hr[b:-b, b:-b], 0)
    assert ssim_map(sr, hr, b).shape == (24 - 2 * b - 10, 27 - 2 * b - 10)
    # Errors only in a 3-pixel frame vanish with border=3, not with border=2.
    framed = hr.copy()
    framed[:b] = 0
    framed[-b:] = 255
    framed[:, :b] = 17
    framed[:, -b:] = 200
    assert psnr(framed, hr, b) == math.inf and ssim(framed, hr, b) == 1.0
    assert psnr(framed, hr, b - 1) < 30


def test_shape_mismatch_names_both_shapes(rng):
    a = rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)
    b = rng.integers(0, 256, (12, 14, 3), dtype=np.uint8)
    for metric in (psnr, ssim):
        with pytest.raises(ValueError, match=r"\(12, 12, 3\).*\(12, 14, 3\)"):
            metric(a, b, 2)
    with pytest.raises(ValueError, match="uint8"):
        psnr(a.astype(np.float32), a.astype(np.float32), 2)
    with pytest.raises(ValueError, match="border"):
        psnr(a, a, 6)
    with pytest.raises(ValueError, match="11x11"):
        ssim(a, a, 1)


def test_ssim_identical_is_one(rng):
    img = rng.integers(0, 256, (30, 20, 3), dtype=np.uint8)
    assert ssim(img, img.copy(), 2) == 1.0


def slow_ssim(sr, hr, border):
    """Zhou Wang's SSIM with explicit loops over every valid 11x11 window and the 2-D Gaussian weights."""
    x = rgb_to_y(sr)[border:sr.shape[0] - border, border:sr.shape[1] - border]
    y = rgb_to_y(hr)[border:hr.shape[0] - border, border:hr.shape[1] - border]
    w = np.array([[math.exp(-((a - 5) ** 2 + (b - 5) ** 2) / (2 * 1.5 ** 2)) for b in range(11)] for a in range(11)])
    w /= w.sum()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    values = []
    for i in range(x.shape[0] - 10):
        for j in range(x.shape[1] - 10):
            px, py = x[i:i + 11, j:j + 11], y[i:i + 11, j:j + 11]
            mx, my = (w * px).sum(), (w * py).sum()
            vx = (w * px * px).sum() - mx * mx
            vy = (w * py * py).sum() - my * my
            cxy = (w * px * py).sum() - mx * my
            values.append((2 * mx * my + c1) * (2 * cxy + c2) / ((mx * mx + my * my + c1) * (vx + vy + c2)))
    return float(np.mean(values))


@pytest.mark.parametrize("noise", [3, 40])
def test_ssim_matches_slow_reference(noise, rng):
    sr, hr = random_pair(rng, shape=(23, 26, 3), noise=noise)
    ours, ref = ssim(sr, hr, 2), slow_ssim(sr, hr, 2)
    assert abs(ours - ref) < 1e-12 * abs(ref)
    assert 0 < ours < 1


def test_ssim_of_smooth_image(rng):
    yy, xx = np.mgrid[0:40, 0:40]
    hr = np.repeat((128 + 100 * np.sin(xx / 5) * np.cos(yy / 7))[..., None], 3, axis=2).astype(np.uint8)
    sr = quantize(hr.astype(np.float64) + rng.normal(0, 2, hr.shape))
    assert abs(ssim(sr, hr, 4) - slow_ssim(sr, hr, 4)) < 1e-12
    assert ssim(sr, hr, 4) > 0.9
    assert 40 < psnr(sr, hr, 4) < 50                          # Y noise about 1.2 grey levels (channels average out)
