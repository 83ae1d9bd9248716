"""Whole-image, tiled and chopped inference, and self-ensemble."""

import numpy as np
import pytest

import minircan
from minircan import nn
from minircan.inference import self_ensemble, to_chw, to_hwc_uint8, upscale_chop, upscale_image, upscale_tiled
from minircan.models import RCAN


def local_model(seed=0):
    """A purely local x2 upscaler (receptive field 5x5 LR pixels): tiles with enough overlap are exact."""
    minircan.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 12, 3, padding=1), nn.PixelShuffle(2))


@pytest.fixture
def image(rng):
    return (rng.random((3, 37, 29)) * 255).astype(np.float32)


def test_tile_larger_than_image_is_the_whole_pass(image):
    model = local_model()
    assert np.array_equal(upscale_tiled(model, image, 2, tile=64), upscale_image(model, image, 2))


@pytest.mark.parametrize("tile,overlap", [(8, 4), (12, 6), (16, 8), (20, 4)])
def test_tiles_of_a_local_model_match_the_whole_image(image, tile, overlap):
    model = local_model()
    whole = upscale_image(model, image, 2)
    tiled = upscale_tiled(model, image, 2, tile=tile, overlap=overlap)
    assert tiled.shape == whole.shape == (3, 74, 58)
    # every kept pixel has >= overlap/2 >= 2 pixels of context: the same inputs, so the same value
    assert np.abs(tiled - whole).max() <= 1e-4 * np.abs(whole).max()


def test_chop_of_a_local_model_matches_the_whole_image(image):
    model = local_model()
    whole = upscale_image(model, image, 2)
    assert np.abs(upscale_chop(model, image, 2) - whole).max() <= 1e-4 * np.abs(whole).max()
    # recursion: a tiny min_size splits each quarter again
    assert np.abs(upscale_chop(model, image, 2, shave=4, min_size=300) - whole).max() <= 1e-4 * np.abs(whole).max()


def test_rcan_tiles_differ_slightly_because_attention_pools_per_tile(rng):
    minircan.manual_seed(0)
    model = RCAN.from_config("tiny", scale=2)
    lr = (rng.random((3, 40, 40)) * 255).astype(np.float32)
    whole = upscale_image(model, lr, 2)
    tiled = upscale_tiled(model, lr, 2, tile=24, overlap=8)
    diff = np.abs(tiled - whole)
    assert 0 < diff.max() < 5.0  # grey levels: visible only as a statistic, not a seam


def test_self_ensemble_of_an_equivariant_model_is_the_model(image):
    def nearest_x2(x):
        return np.repeat(np.repeat(x, 2, axis=1), 2, axis=2)

    assert np.array_equal(self_ensemble(nearest_x2, image), nearest_x2(image))


def test_self_ensemble_averages_the_eight_transforms(image):
    model = local_model()

    def up(x):
        return upscale_image(model, x, 2)

    manual = []
    for t in (False, True):
        for fh in (False, True):
            for fw in (False, True):
                x = image.transpose(0, 2, 1) if t else image
                x = x[:, ::-1] if fh else x
                x = x[:, :, ::-1] if fw else x
                y = up(np.ascontiguousarray(x))
                y = y[:, :, ::-1] if fw else y
                y = y[:, ::-1] if fh else y
                manual.append(y.transpose(0, 2, 1) if t else y)
    assert np.allclose(self_ensemble(up, image), np.mean(manual, axis=0), rtol=1e-6, atol=1e-4)


def test_quantisation_round_trip(rng):
    img = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    assert np.array_equal(to_hwc_uint8(to_chw(img)), img)
    assert to_hwc_uint8(np.full((3, 1, 1), 300.0))[0, 0, 0] == 255
    assert to_hwc_uint8(np.full((3, 1, 1), -3.0))[0, 0, 0] == 0


def test_bad_overlap_is_an_error(image):
    with pytest.raises(ValueError, match="overlap"):
        upscale_tiled(local_model(), image, 2, tile=8, overlap=8)
