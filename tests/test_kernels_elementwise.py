"""ReLU, sigmoid, global average pooling and pixel shuffle kernels against PyTorch (forward and
backward with a random upstream gradient), on odd shapes, in float64 and float32."""

import warnings

import numpy as np
import pytest
import torch
from conftest import assert_close, noncontiguous
from hypothesis import given
from hypothesis import strategies as st

from minircan.kernels import avg_pool, pixel_shuffle, relu, sigmoid

DTYPES = [np.float64, np.float32]
shapes4 = st.tuples(st.integers(1, 3), st.integers(1, 5), st.integers(1, 9), st.integers(1, 9))


def _torch_grad(fn, x, g):
    tx = torch.tensor(np.ascontiguousarray(x), requires_grad=True)
    y = fn(tx)
    y.backward(torch.tensor(g))
    return y.detach().numpy(), tx.grad.numpy()


@pytest.mark.parametrize("dtype", DTYPES)
@given(shape=shapes4, seed=st.integers(0, 2**31 - 1), contiguous=st.booleans())
def test_relu(dtype, shape, seed, contiguous):
    rng = np.random.default_rng(seed)
    x, g = (rng.standard_normal(shape).astype(dtype) for _ in range(2))
    x = x if contiguous else noncontiguous(x)
    y_ref, dx_ref = _torch_grad(torch.relu, x, g)
    y = relu.forward(x)
    assert np.array_equal(y, y_ref)
    assert np.array_equal(relu.backward(g, y), dx_ref)


@pytest.mark.parametrize("dtype", DTYPES)
@given(shape=shapes4, seed=st.integers(0, 2**31 - 1), contiguous=st.booleans())
def test_sigmoid(dtype, shape, seed, contiguous):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * 6).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    x = x if contiguous else noncontiguous(x)
    y_ref, dx_ref = _torch_grad(torch.sigmoid, x, g)
    y = sigmoid.forward(x)
    assert_close(y, y_ref, dtype, "sigmoid forward")
    assert_close(sigmoid.backward(g, y), dx_ref, dtype, "sigmoid backward")


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_is_stable_at_extremes(dtype):
    x = np.array([-1000.0, -100.0, -30.0, 0.0, 30.0, 100.0, 1000.0], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow RuntimeWarning would fail the test
        y = sigmoid.forward(x)
        dx = sigmoid.backward(np.ones_like(x), y)
    assert np.all(np.isfinite(y)) and np.all(np.isfinite(dx))
    assert y[0] == 0 and y[-1] == 1 and y[3] == 0.5
    assert dx[0] == 0 and dx[-1] == 0
    assert_close(y, torch.sigmoid(torch.tensor(x)).numpy(), dtype, "sigmoid at extremes")


@pytest.mark.parametrize("dtype", DTYPES)
@given(shape=shapes4, seed=st.integers(0, 2**31 - 1), contiguous=st.booleans())
def test_global_avg_pool(dtype, shape, seed, contiguous):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    g = rng.standard_normal(shape[:2] + (1, 1)).astype(dtype)
    x = x if contiguous else noncontiguous(x)
    y_ref, dx_ref = _torch_grad(lambda t: torch.nn.functional.adaptive_avg_pool2d(t, 1), x, g)
    assert_close(avg_pool.forward(x), y_ref, dtype, "pool forward")
    assert_close(avg_pool.backward(g, x.shape), dx_ref, dtype, "pool backward")


def test_global_avg_pool_float32_large_plane_does_not_drift(rng):
    x = (rng.random((1, 2, 300, 300)) + 1000).astype(np.float32)
    assert_close(avg_pool.forward(x).reshape(2), x.astype(np.float64).mean(axis=(0, 2, 3)), np.float32, "mean")


@pytest.mark.parametrize("dtype", DTYPES)
@given(r=st.integers(1, 3), n=st.integers(1, 2), c=st.integers(1, 3), h=st.integers(1, 5), w=st.integers(1, 5),
       seed=st.integers(0, 2**31 - 1))
def test_pixel_shuffle_and_unshuffle(dtype, r, n, c, h, w, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c * r * r, h, w)).astype(dtype)
    g = rng.standard_normal((n, c, h * r, w * r)).astype(dtype)
    y_ref, dx_ref = _torch_grad(lambda t: torch.nn.functional.pixel_shuffle(t, r), x, g)
    y = pixel_shuffle.pixel_shuffle(x, r)
    assert np.array_equal(y, y_ref)  # a permutation: exact
    assert np.array_equal(pixel_shuffle.pixel_unshuffle(g, r), dx_ref)  # its backward
    u_ref, du_ref = _torch_grad(lambda t: torch.nn.functional.pixel_unshuffle(t, r), g, x)
    assert np.array_equal(pixel_shuffle.pixel_unshuffle(g, r), u_ref)
    assert np.array_equal(pixel_shuffle.pixel_shuffle(x, r), du_ref)


def test_pixel_shuffle_layout_by_hand():
    # 4 channels of constant value c, r = 2: each 2x2 output block reads channel (i*2 + j) at (i, j).
    x = np.arange(4, dtype=np.float64).reshape(1, 4, 1, 1) * np.ones((1, 4, 2, 3))
    y = pixel_shuffle.pixel_shuffle(x, 2)
    assert y.shape == (1, 1, 4, 6)
    assert np.array_equal(y[0, 0, :2, :2], [[0, 1], [2, 3]])
    assert np.array_equal(y[0, 0, 2:, 4:], [[0, 1], [2, 3]])


def test_relu_passes_nan_through_like_pytorch():
    x = np.array([np.nan, -1.0, 0.0, 2.0])
    y = relu.forward(x)
    assert np.isnan(y[0]) and np.array_equal(y[1:], [0.0, 0.0, 2.0])
    assert np.isnan(torch.relu(torch.tensor(x)).numpy()[0])


def test_vectorising_float32_exp_is_accurate_to_two_ulp():
    """kernels/fast_exp.py: exp(a) for a <= 0 in float32, against float64 exp, over float32's whole normal
    range; flushed to 0 below ln(2^-126); NaN passes."""
    from numba import njit

    from minircan.kernels.fast_exp import SMALLEST, exp_nonpositive

    @njit
    def run(a, out):
        for i in range(a.size):
            out[i] = exp_nonpositive(a[i])

    rng = np.random.default_rng(7)
    a = np.concatenate([-rng.uniform(0, 87.3, 200_000), -rng.uniform(0, 1e-3, 1000), [0.0, -1.0, SMALLEST]])
    a = a.astype(np.float32)
    out = np.empty_like(a)
    run(a, out)
    exact = np.exp(a.astype(np.float64))
    ulps = np.abs(out - exact) / np.spacing(exact.astype(np.float32)).astype(np.float64)
    assert ulps.max() <= 2, f"worst error {ulps.max():.2f} ulp at a = {a[ulps.argmax()]}"
    edge = np.array([-87.4, -100.0, -1000.0, np.nan], dtype=np.float32)
    out = np.empty_like(edge)
    run(edge, out)
    assert out[0] == 0 and out[1] == 0 and out[2] == 0 and np.isnan(out[3])
