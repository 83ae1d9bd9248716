"""Bad input gets a ValueError (or TypeError) whose message names the shapes involved and the fix."""

import numpy as np
import pytest

import minircan
import minircan.functional as F


def t(*shape, dtype=np.float32):
    return minircan.tensor(np.ones(shape, dtype=dtype))


def test_conv2d_wrong_channel_count():
    with pytest.raises(ValueError, match=r"input has 3 channels \(shape \(1, 3, 8, 8\)\).*\(4, 5, 3, 3\)"):
        F.conv2d(t(1, 3, 8, 8), t(4, 5, 3, 3))


def test_conv2d_kernel_bigger_than_padded_input():
    with pytest.raises(ValueError, match=r"kernel 5x5 .* bigger than the padded input 4x4 \(input \(1, 1, 2, 2\)"):
        F.conv2d(t(1, 1, 2, 2), t(1, 1, 5, 5), padding=1)


def test_conv2d_wrong_ndim():
    with pytest.raises(ValueError, match=r"input must be 4-D \(N, C, H, W\), got shape \(3, 8, 8\)"):
        F.conv2d(t(3, 8, 8), t(4, 3, 3, 3))
    with pytest.raises(ValueError, match=r"weight must be 4-D"):
        F.conv2d(t(1, 3, 8, 8), t(4, 3, 3))


def test_conv2d_bad_bias_stride_padding():
    with pytest.raises(ValueError, match=r"bias must have shape \(4,\).*got \(3,\)"):
        F.conv2d(t(1, 3, 8, 8), t(4, 3, 3, 3), t(3))
    with pytest.raises(ValueError, match="stride must be an int >= 1"):
        F.conv2d(t(1, 3, 8, 8), t(4, 3, 3, 3), stride=0)
    with pytest.raises(ValueError, match="padding must be an int >= 0"):
        F.conv2d(t(1, 3, 8, 8), t(4, 3, 3, 3), padding=-1)


def test_mismatched_dtypes():
    expected = r"dtypes differ \(input float32 \(1, 3, 8, 8\), weight float64 \(4, 3, 3, 3\)"
    with pytest.raises(ValueError, match=expected):
        F.conv2d(t(1, 3, 8, 8), t(4, 3, 3, 3, dtype=np.float64))
    with pytest.raises(ValueError, match=r"different dtypes, float32 \(2, 3\) and float64 \(2, 3\)"):
        t(2, 3) + t(2, 3, dtype=np.float64)


def test_pixel_shuffle_channels_not_divisible():
    with pytest.raises(ValueError, match=r"input channels 6 \(shape \(1, 6, 4, 4\)\) are not divisible by .* 4"):
        F.pixel_shuffle(t(1, 6, 4, 4), 2)
    with pytest.raises(ValueError, match=r"must be 4-D"):
        F.pixel_shuffle(t(6, 4, 4), 2)
    with pytest.raises(ValueError, match=r"divisible by downscale_factor 2"):
        F.pixel_unshuffle(t(1, 1, 5, 4), 2)


def test_shapes_that_do_not_broadcast():
    with pytest.raises(ValueError, match=r"shapes \(2, 3\) and \(4,\) do not broadcast"):
        t(2, 3) * t(4)


def test_loss_shape_mismatch_and_reduction():
    with pytest.raises(ValueError, match=r"input shape \(2, 3\) and target shape \(3, 2\) differ"):
        F.l1_loss(t(2, 3), t(3, 2))
    with pytest.raises(ValueError, match="reduction must be"):
        F.mse_loss(t(2), t(2), reduction="avg")


def test_pooling_and_non_tensor_inputs():
    with pytest.raises(ValueError, match="only output_size=1"):
        F.adaptive_avg_pool2d(t(1, 2, 4, 4), 2)
    with pytest.raises(TypeError, match="must be a minircan Tensor"):
        F.relu(np.ones(3))


def test_integer_and_unknown_devices():
    with pytest.raises(ValueError, match="float32 or float64"):
        minircan.tensor(np.ones(2), dtype=np.int32)
    with pytest.raises(ValueError, match="unknown device"):
        minircan.tensor([1.0], device="tpu")
