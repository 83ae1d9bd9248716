"""minircan.data: MATLAB bicubic imresize against a slow per-pixel reference, degradations, image files,
datasets (a fake DIV2K folder) and the patch sampler."""

import json
import math
import warnings

import numpy as np
import pytest
from PIL import Image

from minircan.data import (
    SAMPLE_TRAIN,
    SAMPLE_VAL,
    ImagePair,
    PatchSampler,
    benchmark_pairs,
    degrade,
    div2k_pairs,
    gaussian_kernel,
    imresize,
    list_images,
    make_pairs,
    modcrop,
    read_image,
    read_image_with_alpha,
    sample_images,
    write_image,
)
from minircan.data.degradations import bd_kernel_size, imfilter_replicate, nearest_indices
from minircan.data.imresize import contributions

SCALES = [1 / 2, 1 / 3, 1 / 4, 2, 3, 4]


# ---------------------------------------------------------------------------------------------------------
# imresize


def slow_cubic(x):
    ax = abs(x)
    if ax <= 1:
        return 1.5 * (ax * ax * ax) - 2.5 * (ax * ax) + 1
    if ax <= 2:
        return -0.5 * (ax * ax * ax) + 2.5 * (ax * ax) - 4 * ax + 2
    return 0.0


def slow_resize_axis0(x, scale, round_uint8):
    """One pass along axis 0, written out per output pixel: centre u, taps, clamped indices, weights."""
    n = x.shape[0]
    m = math.ceil(n * scale)
    width = 4 / scale if scale < 1 else 4.0
    taps = math.ceil(width) + 2
    out = np.zeros((m,) + x.shape[1:])
    for i in range(1, m + 1):                                  # 1-based, as MATLAB
        u = i / scale + 0.5 * (1 - 1 / scale)
        left = math.floor(u - width / 2)
        js = [left + t for t in range(taps)]
        ws = [scale * slow_cubic(scale * (u - j)) if scale < 1 else slow_cubic(u - j) for j in js]
        total = 0.0
        for w in ws:
            total += w
        acc = None
        for j, w in zip(js, ws):
            term = (w / total) * x[min(max(j, 1), n) - 1]      # clamp to the edge pixel
            acc = term if acc is None else acc + term
        out[i - 1] = acc
    if round_uint8:
        out = np.clip(np.floor(out + 0.5), 0, 255)
    return out


def slow_imresize(img, scale):
    is_uint8 = img.dtype == np.uint8
    x = img.astype(np.float64)
    x = slow_resize_axis0(x, scale, is_uint8)                                    # rows
    x = np.swapaxes(slow_resize_axis0(np.swapaxes(x, 0, 1), scale, is_uint8), 0, 1)  # then columns
    return x.astype(np.uint8) if is_uint8 else x


def test_x2_downscale_weights_are_the_official_ones():
    weights, indices = contributions(20, 1 / 2)
    assert weights.shape == (10, 8)                           # 10 taps, the 2 all-zero ones dropped
    expected = [-0.01171875, -0.03515625, 0.11328125, 0.43359375, 0.43359375, 0.11328125, -0.03515625, -0.01171875]
    for row in weights[2:-2]:                                  # interior rows: no clamping
        np.testing.assert_allclose(row, expected, rtol=0, atol=1e-15)
    np.testing.assert_array_equal(indices[3], np.arange(3, 11))  # output 4 (1-based) centred at u = 7.5
    np.testing.assert_allclose(weights.sum(axis=1), 1, atol=1e-15)
    assert indices.min() == 0 and indices.max() == 19       # the border rows' taps are clamped


@pytest.mark.parametrize("scale", SCALES, ids=lambda s: f"{s:.3g}")
@pytest.mark.parametrize("dtype", [np.uint8, np.float64])
def test_imresize_matches_slow_reference(scale, dtype, rng):
    shape = (11, 9, 3) if scale < 1 else (7, 5, 3)
    if dtype == np.uint8:
        img = rng.integers(0, 256, shape, dtype=np.uint8)
    else:
        img = rng.normal(100, 60, shape)
    ours = imresize(img, scale)
    ref = slow_imresize(img, scale)
    assert ours.dtype == (np.uint8 if dtype == np.uint8 else np.float64)
    assert ours.shape == (math.ceil(shape[0] * scale), math.ceil(shape[1] * scale), 3)
    np.testing.assert_array_equal(ours, ref)                  # exactly, float included
    np.testing.assert_array_equal(imresize(img[..., 0], scale), ref[..., 0])  # (H, W) too


@pytest.mark.parametrize("scale", [1 / 2, 1 / 3, 0.3, 0.75, 1.5, 2, 3])
def test_imresize_output_shapes(scale):
    for h, w in [(1, 1), (10, 7), (13, 20)]:
        assert imresize(np.zeros((h, w), np.uint8), scale).shape == (math.ceil(h * scale), math.ceil(w * scale))


def test_imresize_rounds_after_each_pass(rng):
    img = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    per_pass = imresize(img, 1 / 2)
    once = np.clip(np.floor(imresize(img.astype(np.float64), 1 / 2) + 0.5), 0, 255).astype(np.uint8)
    differ = per_pass != once
    assert differ.any(), "rounding between passes should change some pixels"
    assert np.abs(per_pass.astype(int) - once.astype(int)).max() <= 2


def test_imresize_constant_stays_constant():
    for value in (0, 1, 128, 255):
        img = np.full((9, 13, 3), value, np.uint8)
        for scale in SCALES:
            out = imresize(img, scale)
            assert (out == value).all()
    out = imresize(np.full((9, 13), 0.3), 1 / 3)
    np.testing.assert_allclose(out, 0.3, rtol=1e-14)


def test_imresize_scale_one_is_identity(rng):
    img = rng.integers(0, 256, (7, 8, 3), dtype=np.uint8)
    np.testing.assert_array_equal(imresize(img, 1), img)


def test_imresize_rejects_bad_input():
    with pytest.raises(ValueError, match="int64"):
        imresize(np.zeros((4, 4), np.int64), 0.5)
    with pytest.raises(ValueError, match="shape"):
        imresize(np.zeros(4, np.uint8), 0.5)
    with pytest.raises(ValueError, match="scale"):
        imresize(np.zeros((4, 4), np.uint8), 0)


def test_imresize_interior_matches_torch_antialiased_bicubic():
    # PyTorch's antialiased bicubic uses the same a = -0.5 kernel, stretched the same way; it renormalises the
    # kernel at the borders instead of clamping, so only the interior agrees. Informative, float only.
    torch = pytest.importorskip("torch")
    yy, xx = np.mgrid[0:48, 0:72]
    img = 128 + 60 * np.sin(xx / 7.0) * np.cos(yy / 5.0) + 20 * np.sin((xx + yy) / 11.0)
    for s in (2, 3, 4):
        ours = imresize(img, 1 / s)
        theirs = torch.nn.functional.interpolate(torch.from_numpy(img)[None, None], scale_factor=1 / s,
                                                 mode="bicubic", antialias=True, align_corners=False)[0, 0].numpy()
        assert np.abs(ours - theirs)[2:-2, 2:-2].max() < 1e-9
        assert np.abs(ours - theirs).max() < 2                  # the borders differ, by a little


def test_imresize_is_fast_on_a_div2k_image(rng):
    import time

    img = rng.integers(0, 256, (1356, 2040, 3), dtype=np.uint8)
    t = time.perf_counter()
    out = imresize(img, 1 / 4)
    assert out.shape == (339, 510, 3)
    assert time.perf_counter() - t < 2.0


def test_modcrop():
    img = np.zeros((13, 10, 3), np.uint8)
    assert modcrop(img, 3).shape == (12, 9, 3)
    assert modcrop(img, 2).shape == (12, 10, 3)
    assert modcrop(img[..., 0], 4).shape == (12, 8)
    a = np.arange(35).reshape(5, 7)
    np.testing.assert_array_equal(modcrop(a, 2), a[:4, :6])  # bottom rows and right columns go


# ---------------------------------------------------------------------------------------------------------
# degradations


def test_bi_is_imresize_of_modcrop(rng):
    hr = rng.integers(0, 256, (37, 29, 3), dtype=np.uint8)
    for s in (2, 3, 4):
        lr = degrade(hr, s)
        assert lr.shape == (37 // s, 29 // s, 3) and lr.dtype == np.uint8
        np.testing.assert_array_equal(lr, imresize(modcrop(hr, s), 1 / s))


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_bd_shapes(scale, rng):
    hr = rng.integers(0, 256, (37, 29, 3), dtype=np.uint8)
    lr = degrade(hr, scale, "BD")
    assert lr.shape == (37 // scale, 29 // scale, 3) and lr.dtype == np.uint8
    assert (degrade(np.full((12, 12, 3), 77, np.uint8), scale, "BD") == 77).all()


def test_gaussian_kernel_matches_fspecial_formula():
    for size, sigma in [(7, 1.6), (12, 1.6), (11, 1.5)]:
        h = gaussian_kernel(size, sigma)
        r = (size - 1) / 2
        ref = np.array([[math.exp(-((x - r) ** 2 + (y - r) ** 2) / (2 * sigma ** 2)) for x in range(size)]
                        for y in range(size)])
        ref /= ref.sum()
        assert h.shape == (size, size)
        assert abs(h.sum() - 1) < 1e-15
        np.testing.assert_allclose(h, ref, rtol=1e-14)
        np.testing.assert_allclose(h, h.T, rtol=0, atol=0)
    assert bd_kernel_size(3) == 7 and bd_kernel_size(5) == 11 and bd_kernel_size(2) == 12 == bd_kernel_size(4)


def test_imfilter_replicate_matches_2d_correlation(rng):
    img = rng.integers(0, 256, (10, 13, 3), dtype=np.uint8)
    for size in (7, 12):
        h = gaussian_kernel(size, 1.6)
        before, after = (size - 1) // 2, size // 2            # MATLAB's centre: floor((size + 1) / 2), 1-based
        padded = np.pad(img.astype(np.float64), ((before, after), (before, after), (0, 0)), mode="edge")
        ref = np.zeros(img.shape)
        for i in range(img.shape[0]):
            for j in range(img.shape[1]):
                ref[i, j] = np.tensordot(h, padded[i:i + size, j:j + size], axes=([0, 1], [0, 1]))
        ref = np.clip(np.floor(ref + 0.5), 0, 255).astype(np.uint8)
        np.testing.assert_array_equal(imfilter_replicate(img, size, 1.6), ref)


def test_bd_nearest_rule_by_hand():
    # MATLAB imresize(x, 1/s, 'nearest'): box kernel, centre u = i s + (1 - s) / 2, tap j with -0.5 <= u - j < 0.5.
    for s in (2, 3, 4, 5):
        matlab = []
        for i in range(1, 5):
            u = i * s + 0.5 * (1 - s)
            matlab.append(next(j for j in range(1, 5 * s + 1) if -0.5 <= u - j < 0.5) - 1)
        np.testing.assert_array_equal(nearest_indices(4, s), matlab)
    np.testing.assert_array_equal(nearest_indices(4, 3), [1, 4, 7, 10])     # block centres
    np.testing.assert_array_equal(nearest_indices(3, 2), [1, 3, 5])

    # A 6x9 image whose pixel (r, c) holds 10 r + c, downscaled by 3 keeps rows 1, 4 and columns 1, 4, 7.
    a = 10 * np.arange(6)[:, None] + np.arange(9)[None, :]
    expected = np.array([[11, 14, 17],
                         [41, 44, 47]])
    np.testing.assert_array_equal(a[np.ix_(nearest_indices(2, 3), nearest_indices(3, 3))], expected)


def test_bd_is_blur_then_pick(rng):
    hr = rng.integers(0, 256, (18, 24, 3), dtype=np.uint8)
    np.testing.assert_array_equal(degrade(hr, 3, "BD"), imfilter_replicate(hr, 7, 1.6)[1::3, 1::3])
    # even scales, official imresize_BD: 12x12 blur, then rows/columns s/2 : s : end - s/2 (1-based)
    np.testing.assert_array_equal(degrade(hr, 2, "BD"), imfilter_replicate(hr, 12, 1.6)[0::2, 0::2])
    np.testing.assert_array_equal(degrade(hr, 4, "BD"), imfilter_replicate(modcrop(hr, 4), 12, 1.6)[1::4, 1::4])


def test_degrade_rejects_unknown_kind():
    with pytest.raises(ValueError, match="BI, BD"):
        degrade(np.zeros((8, 8, 3), np.uint8), 2, "DN")
    with pytest.raises(ValueError, match="uint8"):
        degrade(np.zeros((8, 8, 3)), 2)


# ---------------------------------------------------------------------------------------------------------
# image files


def test_png_round_trip_is_exact(tmp_path, rng):
    rgb = rng.integers(0, 256, (17, 23, 3), dtype=np.uint8)
    for ext in ("png", "bmp"):
        path = tmp_path / "sub" / "dir" / f"a.{ext}"             # parent folders are created
        write_image(path, rgb)
        np.testing.assert_array_equal(read_image(path), rgb)
    write_image(tmp_path / "a.jpg", rgb)
    assert read_image(tmp_path / "a.jpg").shape == rgb.shape
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jpg", "sub"]  # no temporary files left behind


def test_grayscale_is_replicated(tmp_path, rng):
    grey = rng.integers(0, 256, (9, 11), dtype=np.uint8)
    Image.fromarray(grey).save(tmp_path / "g.png")
    rgb = read_image(tmp_path / "g.png")
    assert rgb.shape == (9, 11, 3) and rgb.dtype == np.uint8
    for c in range(3):
        np.testing.assert_array_equal(rgb[..., c], grey)
    Image.fromarray(grey > 128).save(tmp_path / "bw.png")        # 1-bit
    np.testing.assert_array_equal(read_image(tmp_path / "bw.png")[..., 1], np.where(grey > 128, 255, 0))
    deep = (grey.astype(np.uint16) * 257)                          # 16-bit grey: 0..65535
    Image.fromarray(deep).save(tmp_path / "g16.png")
    np.testing.assert_array_equal(read_image(tmp_path / "g16.png")[..., 2], grey)


def test_palette_is_expanded(tmp_path, rng):
    rgb = rng.integers(0, 4, (8, 8, 3), dtype=np.uint8) * 80
    Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=64).save(tmp_path / "p.png")
    with warnings.catch_warnings():
        warnings.simplefilter("error")                              # no alpha, no warning
        out = read_image(tmp_path / "p.png")
    np.testing.assert_array_equal(out, rgb)


def test_rgba_warns_and_drops_alpha(tmp_path, rng):
    rgb = rng.integers(0, 256, (6, 7, 3), dtype=np.uint8)
    alpha = rng.integers(0, 256, (6, 7), dtype=np.uint8)
    path = tmp_path / "rgba.png"
    write_image(path, rgb, alpha)
    with pytest.warns(UserWarning, match="rgba.png: alpha channel dropped"):
        out = read_image(path)
    np.testing.assert_array_equal(out, rgb)
    rgb2, alpha2 = read_image_with_alpha(path)
    np.testing.assert_array_equal(rgb2, rgb)
    np.testing.assert_array_equal(alpha2, alpha)
    assert read_image_with_alpha(tmp_path / "rgba.png")[1].shape == (6, 7)
    Image.fromarray(np.dstack([rgb[..., 0], alpha])).save(tmp_path / "la.png")  # grey + alpha
    with pytest.warns(UserWarning, match="alpha channel dropped"):
        np.testing.assert_array_equal(read_image(tmp_path / "la.png")[..., 2], rgb[..., 0])


def test_read_without_alpha_returns_none(tmp_path, rng):
    write_image(tmp_path / "a.png", rng.integers(0, 256, (4, 4, 3), dtype=np.uint8))
    assert read_image_with_alpha(tmp_path / "a.png")[1] is None


def test_read_errors_name_the_file(tmp_path, rng):
    with pytest.raises(FileNotFoundError, match="missing.png"):
        read_image(tmp_path / "missing.png")
    (tmp_path / "x.png").write_text("this is not an image")
    with pytest.raises(ValueError, match="x.png"):
        read_image(tmp_path / "x.png")
    write_image(tmp_path / "full.png", rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    data = (tmp_path / "full.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="cut.png.*truncated"):
        read_image(tmp_path / "cut.png")


def test_write_image_refuses_bad_arrays(tmp_path):
    with pytest.raises(ValueError, match="float64"):
        write_image(tmp_path / "a.png", np.zeros((4, 4, 3)))
    with pytest.raises(ValueError, match=r"\(4, 4\)"):
        write_image(tmp_path / "a.png", np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError, match="extension"):
        write_image(tmp_path / "a.tiff", np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(ValueError, match="alpha"):
        write_image(tmp_path / "a.png", np.zeros((4, 4, 3), np.uint8), np.zeros((4, 5), np.uint8))
    assert list(tmp_path.iterdir()) == []


def test_list_images(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        list_images(tmp_path / "nowhere")
    with pytest.raises(ValueError, match=str(tmp_path.name)):
        list_images(tmp_path)
    for name in ("b.png", "a.JPG", "c.bmp", "notes.txt", ".hidden.png"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "d.png").write_bytes(b"")
    assert [p.name for p in list_images(tmp_path)] == ["a.JPG", "b.png", "c.bmp"]


# ---------------------------------------------------------------------------------------------------------
# datasets


def test_sample_splits():
    train, val = sample_images("train"), sample_images("val")
    assert train and val
    assert not {p.name for p in train} & {p.name for p in val}
    assert [p.stem for p in val] == SAMPLE_VAL and [p.stem for p in train] == SAMPLE_TRAIN
    bundled = {p.stem for p in train[0].parent.glob("*.png")}
    assert bundled == set(SAMPLE_TRAIN) | set(SAMPLE_VAL)           # train = every sample not in val
    with pytest.raises(ValueError, match="split"):
        sample_images("test")


@pytest.mark.parametrize("scale", [2, 3])
def test_make_pairs_shapes(scale):
    pairs = make_pairs(sample_images("val"), scale)
    assert [p.name for p in pairs] == SAMPLE_VAL
    for p in pairs:
        assert p.hr.dtype == p.lr.dtype == np.uint8
        assert p.hr.shape == (p.lr.shape[0] * scale, p.lr.shape[1] * scale, 3)
    assert pairs[0].hr.shape == (255 - 255 % scale, 384, 3)        # chelsea is 384x255: modcropped


def test_benchmark_pairs(tmp_path, rng):
    for name in ("baby", "bird"):
        write_image(tmp_path / "Set5" / f"{name}.bmp", rng.integers(0, 256, (21, 19, 3), dtype=np.uint8))
    pairs = benchmark_pairs(tmp_path / "Set5", 4)
    assert [p.name for p in pairs] == ["baby", "bird"]
    assert pairs[0].hr.shape == (20, 16, 3) and pairs[0].lr.shape == (5, 4, 3)
    (tmp_path / "edsr" / "HR").mkdir(parents=True)                  # EDSR's benchmark/Set5/HR layout
    write_image(tmp_path / "edsr" / "HR" / "baby.png", pairs[0].hr)
    assert benchmark_pairs(tmp_path / "edsr", 2)[0].lr.shape == (10, 8, 3)


def make_fake_div2k(root, rng, ids=("0001", "0002", "0003"), folder="DIV2K_train_HR"):
    hrs = {}
    for i in ids:
        hrs[i] = rng.integers(0, 256, (26, 31, 3), dtype=np.uint8)    # not multiples of the scale
        write_image(root / folder / f"{i}.png", hrs[i])
    return hrs


def test_div2k_generates_and_caches_lr(tmp_path, rng):
    hrs = make_fake_div2k(tmp_path, rng)
    pairs = div2k_pairs(tmp_path, 2)
    assert [p.name for p in pairs] == ["0001", "0002", "0003"]
    cache = tmp_path / "minircan_cache" / "BI_X2"
    assert sorted(p.name for p in cache.iterdir()) == ["0001.png", "0002.png", "0003.png"]
    for p in pairs:
        np.testing.assert_array_equal(p.hr, modcrop(hrs[p.name], 2))
        np.testing.assert_array_equal(p.lr, degrade(hrs[p.name], 2))
    mtimes = {p.name: p.stat().st_mtime_ns for p in cache.iterdir()}
    again = div2k_pairs(tmp_path, 2)
    assert {p.name: p.stat().st_mtime_ns for p in cache.iterdir()} == mtimes  # read back, not rewritten
    for a, b in zip(pairs, again):
        np.testing.assert_array_equal(a.lr, b.lr)
    # A cached file is what is used: overwrite one and see it come back.
    marker = np.full_like(pairs[0].lr, 7)
    write_image(cache / "0001.png", marker)
    np.testing.assert_array_equal(div2k_pairs(tmp_path, 2)[0].lr, marker)
    bd = div2k_pairs(tmp_path, 3, degradation="BD", cache=False)
    np.testing.assert_array_equal(bd[1].lr, degrade(hrs["0002"], 3, "BD"))
    assert not (tmp_path / "minircan_cache" / "BD_X3").exists()


def test_div2k_uses_official_lr_files(tmp_path, rng):
    make_fake_div2k(tmp_path, rng)
    official = {}
    for i in ("0001", "0002", "0003"):
        official[i] = rng.integers(0, 256, (13, 15, 3), dtype=np.uint8)   # 26x31 modcropped by 2, halved
        write_image(tmp_path / "DIV2K_train_LR_bicubic" / "X2" / f"{i}x2.png", official[i])
    pairs = div2k_pairs(tmp_path, 2)
    for p in pairs:
        np.testing.assert_array_equal(p.lr, official[p.name])
    assert not (tmp_path / "minircan_cache").exists()
    bd = div2k_pairs(tmp_path, 2, degradation="BD")                   # the bicubic files are not BD
    assert not np.array_equal(bd[0].lr, official["0001"])


def test_div2k_splits(tmp_path, rng):
    make_fake_div2k(tmp_path, rng, ids=("0001", "0800", "0801", "0802"))
    assert [p.name for p in div2k_pairs(tmp_path, 2, cache=False)] == ["0001", "0800"]
    assert [p.name for p in div2k_pairs(tmp_path, 2, split="val", cache=False)] == ["0801", "0802"]
    make_fake_div2k(tmp_path, rng, ids=("0805",), folder="DIV2K_valid_HR")
    assert [p.name for p in div2k_pairs(tmp_path, 2, split="val", cache=False)] == ["0805"]


def test_div2k_empty_folder(tmp_path):
    with pytest.raises(ValueError, match="DIV2K_train_HR.*expected layout"):
        div2k_pairs(tmp_path, 2)
    with pytest.raises(FileNotFoundError, match="nowhere"):
        div2k_pairs(tmp_path / "nowhere", 2)
    with pytest.raises(ValueError, match="BI, BD"):
        div2k_pairs(tmp_path, 2, degradation="XX")


# ---------------------------------------------------------------------------------------------------------
# PatchSampler

# The 8 transforms, as the flags (hflip, vflip, transpose) applied in that order.
FLAGS = [(h, v, t) for h in (0, 1) for v in (0, 1) for t in (0, 1)]


def undo(patch, flags):
    h, v, t = flags
    if t:
        patch = patch.transpose(1, 0, 2)
    if v:
        patch = patch[::-1]
    if h:
        patch = patch[:, ::-1]
    return patch


def locate(lr_patch, lr_image):
    """[(flags, iy, ix)] of every transform and position at which lr_patch comes from lr_image."""
    p = lr_patch.shape[0]
    windows = np.lib.stride_tricks.sliding_window_view(lr_image, (p, p, 3))[:, :, 0]
    found = []
    for flags in FLAGS:
        crop = undo(lr_patch, flags)
        for iy, ix in np.argwhere((windows == crop).all(axis=(2, 3, 4))):
            found.append((flags, int(iy), int(ix)))
    return found


def make_pair(rng, name="img", h=20, w=24, scale=2):
    return ImagePair(name, rng.integers(0, 256, (h * scale, w * scale, 3), dtype=np.uint8),
                     rng.integers(0, 256, (h, w, 3), dtype=np.uint8))


def test_patch_shapes_and_dtypes(rng):
    sampler = PatchSampler([make_pair(rng, scale=3, h=12, w=14)], scale=3, patch_size=8, batch_size=5)
    lr, hr = sampler.next_batch()
    assert lr.shape == (5, 3, 8, 8) and hr.shape == (5, 3, 24, 24)
    assert lr.dtype == hr.dtype == np.float32
    assert lr.flags.c_contiguous and hr.flags.c_contiguous
    assert 0 <= lr.min() and lr.max() <= 255 and (lr == np.round(lr)).all()


@pytest.mark.parametrize("augment", [False, True])
def test_hr_patch_is_the_crop_under_the_lr_patch(augment, rng):
    s, p = 2, 5
    pair = make_pair(rng, scale=s)
    sampler = PatchSampler([pair], scale=s, patch_size=p, batch_size=16, seed=1, augment=augment)
    lr, hr = sampler.next_batch()
    for n in range(16):
        lr_patch = lr[n].transpose(1, 2, 0).astype(np.uint8)
        hr_patch = hr[n].transpose(1, 2, 0).astype(np.uint8)
        found = locate(lr_patch, pair.lr)
        assert len(found) == 1                                   # random content: one place, one transform
        flags, iy, ix = found[0]
        if not augment:
            assert flags == (0, 0, 0)
        np.testing.assert_array_equal(undo(hr_patch, flags), pair.hr[s * iy:s * (iy + p), s * ix:s * (ix + p)])


def test_all_eight_transforms_occur(rng):
    pair = make_pair(rng, h=6, w=6, scale=2)
    sampler = PatchSampler([pair], scale=2, patch_size=6, batch_size=200, seed=0)  # the crop is the whole image
    lr, _ = sampler.next_batch()
    counts = {}
    for n in range(200):
        (flags, _, _), = locate(lr[n].transpose(1, 2, 0).astype(np.uint8), pair.lr)
        counts[flags] = counts.get(flags, 0) + 1
    assert set(counts) == set(FLAGS)
    assert min(counts.values()) > 10                               # about 25 each


def test_images_are_drawn_uniformly(rng):
    pairs = [make_pair(rng, name=f"im{k}", h=6, w=6) for k in range(3)]
    lr, _ = PatchSampler(pairs, scale=2, patch_size=6, batch_size=300, augment=False).next_batch()
    counts = [sum((lr[n] == pairs[k].lr.transpose(2, 0, 1)).all() for n in range(300)) for k in range(3)]
    assert sum(counts) == 300 and min(counts) > 70


def test_state_round_trip_reproduces_batches(rng):
    pairs = [make_pair(rng, name="a"), make_pair(rng, name="b", h=30, w=22)]
    sampler = PatchSampler(pairs, scale=2, patch_size=8, batch_size=4, seed=3)
    sampler.next_batch()
    state = json.loads(json.dumps(sampler.state()))               # survives JSON (Python ints)
    expected = [sampler.next_batch() for _ in range(3)]
    resumed = PatchSampler(pairs, scale=2, patch_size=8, batch_size=4, seed=99)
    resumed.set_state(state)
    for (lr_a, hr_a), (lr_b, hr_b) in zip(expected, (resumed.next_batch() for _ in range(3))):
        np.testing.assert_array_equal(lr_a, lr_b)
        np.testing.assert_array_equal(hr_a, hr_b)
    same_seed = PatchSampler(pairs, scale=2, patch_size=8, batch_size=4, seed=3)
    np.testing.assert_array_equal(same_seed.next_batch()[0], PatchSampler(pairs, 2, 8, 4, seed=3).next_batch()[0])
    with pytest.raises(ValueError, match="PCG64"):
        resumed.set_state({"bit_generator": "MT19937"})


def test_patch_sampler_errors(rng):
    with pytest.raises(ValueError, match="small.*--patch-size"):
        PatchSampler([make_pair(rng), make_pair(rng, name="tiny_one", h=10, w=30)], scale=2, patch_size=16)
    with pytest.raises(ValueError, match="tiny_one"):
        PatchSampler([make_pair(rng, name="tiny_one", h=10, w=30)], scale=2, patch_size=16)
    with pytest.raises(ValueError, match="30x10"):
        PatchSampler([make_pair(rng, name="tiny_one", h=10, w=30)], scale=2, patch_size=16)
    with pytest.raises(ValueError, match="at least one"):
        PatchSampler([], scale=2)
    bad = ImagePair("odd", np.zeros((41, 40, 3), np.uint8), np.zeros((20, 20, 3), np.uint8))
    with pytest.raises(ValueError, match="odd"):
        PatchSampler([bad], scale=2, patch_size=8)


def test_sampler_on_bundled_samples():
    pairs = make_pairs(sample_images("val"), 2)
    lr, hr = PatchSampler(pairs, scale=2, patch_size=48, batch_size=16).next_batch()
    assert lr.shape == (16, 3, 48, 48) and hr.shape == (16, 3, 96, 96)
