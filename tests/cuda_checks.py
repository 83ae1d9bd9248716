"""Checks of the CUDA kernels, shared by the emulator tests (tests/test_cuda_emulator.py, on the CPU) and the
GPU tests (tests/test_gpu.py, with CuPy): each runs a kernel through ``kernels`` (a CudaKernels) on random
data and compares it with the Numba kernel and with PyTorch (forward, and backward with a random upstream
gradient), in the tests' tolerances (conftest.py). ``put`` moves a NumPy array to the kernels' device and
``get`` back.
"""

import numpy as np
import torch
from conftest import assert_close

from minircan.kernels import avg_pool, pixel_shuffle, relu, sigmoid
from minircan.kernels import conv2d as numba_conv

# (N, C, H, W, K, kh, kw, stride, padding): odd sizes, rectangular kernels, strides and paddings, 1x1 convs,
# more than one 64-wide tile of rows and columns, and (the last) a reduction long enough that the weight
# gradient is split over several blocks.
CONV_CASES = [
    (2, 3, 7, 9, 5, 3, 3, (1, 1), (1, 1)),
    (1, 4, 6, 5, 3, 3, 2, (2, 3), (0, 1)),
    (2, 2, 9, 7, 4, 5, 5, (2, 2), (2, 1)),
    (3, 5, 5, 6, 7, 1, 1, (1, 1), (0, 0)),
    (1, 70, 3, 4, 66, 1, 1, (1, 1), (0, 0)),
    (4, 3, 20, 20, 4, 3, 3, (1, 1), (1, 1)),
]


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def conv_data(case, dtype, seed: int = 0):
    n, c, h, w, k, kh, kw, stride, padding = case
    rng = _rng(seed)
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    wt = rng.standard_normal((k, c, kh, kw)).astype(dtype)
    b = rng.standard_normal(k).astype(dtype)
    ho, wo = numba_conv.output_size(h, w, kh, kw, stride, padding)
    g = rng.standard_normal((n, k, ho, wo)).astype(dtype)
    return x, wt, b, g, stride, padding


def torch_conv(x, w, b, g, stride, padding):
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    y = torch.nn.functional.conv2d(tx, tw, tb, stride=stride, padding=padding)
    y.backward(torch.tensor(g))
    return y.detach().numpy(), tx.grad.numpy(), tw.grad.numpy(), tb.grad.numpy()


def conv_kernels(kernels, fast: bool = True) -> tuple:
    """(forward, input gradient, weight gradient) of a CudaKernels: the implicit-GEMM ones, or the naive ones
    (one thread per output element)."""
    if fast:
        return kernels.conv2d_forward, kernels.conv2d_backward_input, kernels.conv2d_backward_weight
    return kernels.conv2d_forward_naive, kernels.conv2d_backward_input_naive, kernels.conv2d_backward_weight_naive


def check_conv2d(kernels, put, get, case, dtype, fast: bool = True) -> None:
    """Forward and the three gradients of one case, fast or naive kernels, against PyTorch and Numba."""
    x, w, b, g, s, p = conv_data(case, dtype)
    y_ref, dx_ref, dw_ref, db_ref = torch_conv(x, w, b, g, s, p)
    X, W, B, G = (put(a) for a in (x, w, b, g))
    what = f"{'fast' if fast else 'naive'} {case} {np.dtype(dtype).name}"
    forward, backward_input, backward_weight = conv_kernels(kernels, fast)
    y = get(forward(X, W, B, s, p))
    assert_close(y, y_ref, dtype, f"conv2d forward {what} vs torch")
    assert_close(y, numba_conv.forward(x, w, b, s, p), dtype, f"conv2d forward {what} vs numba")
    assert_close(get(forward(X, W, None, s, p)), y_ref - b.reshape(1, -1, 1, 1), dtype,
                 f"conv2d forward without bias {what}")
    dx = get(backward_input(G, W, x.shape, s, p))
    assert_close(dx, dx_ref, dtype, f"conv2d input gradient {what} vs torch")
    assert_close(dx, numba_conv.backward_input(g, w, x.shape, s, p), dtype, f"conv2d input gradient {what} vs numba")
    dw = get(backward_weight(G, X, w.shape, s, p))
    assert_close(dw, dw_ref, dtype, f"conv2d weight gradient {what} vs torch")
    assert_close(dw, numba_conv.backward_weight(g, x, w.shape, s, p), dtype, f"conv2d weight gradient {what} vs numba")
    assert_close(get(kernels.conv2d_backward_bias(G)), db_ref, dtype, f"conv2d bias gradient {what}")
    dw2, db2 = kernels.conv2d_backward_params(G, X, w.shape, s, p, bias=True)
    assert_close(get(dw2), dw_ref, dtype, "backward_params weight")
    assert_close(get(db2), db_ref, dtype, "backward_params bias")


def _torch_grad(fn, x, g):
    tx = torch.tensor(x, requires_grad=True)
    y = fn(tx)
    y.backward(torch.tensor(g))
    return y.detach().numpy(), tx.grad.numpy()


ELEMENTWISE_SHAPES = [(1, 1, 1, 1), (2, 3, 5, 7), (3, 5, 17, 9)]  # the last needs several blocks


def check_relu_sigmoid(kernels, put, get, shape, dtype, seed: int = 0) -> None:
    rng = _rng(seed)
    x = (rng.standard_normal(shape) * 6).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    y_ref, dx_ref = _torch_grad(torch.relu, x, g)
    y = kernels.relu_forward(put(x))
    assert np.array_equal(get(y), y_ref), "relu forward"
    assert np.array_equal(get(kernels.relu_backward(put(g), y)), dx_ref), "relu backward"
    assert np.array_equal(get(y), relu.forward(x)), "relu forward vs numba"
    y_ref, dx_ref = _torch_grad(torch.sigmoid, x, g)
    y = kernels.sigmoid_forward(put(x))
    assert_close(get(y), y_ref, dtype, "sigmoid forward vs torch")
    assert_close(get(y), sigmoid.forward(x), dtype, "sigmoid forward vs numba")
    assert_close(get(kernels.sigmoid_backward(put(g), y)), dx_ref, dtype, "sigmoid backward vs torch")


def check_sigmoid_extremes(kernels, put, get, dtype) -> None:
    x = np.array([-1000.0, -100.0, -30.0, 0.0, 30.0, 100.0, 1000.0], dtype=dtype)
    y = get(kernels.sigmoid_forward(put(x)))
    dx = get(kernels.sigmoid_backward(put(np.ones_like(x)), put(y)))
    assert np.all(np.isfinite(y)) and np.all(np.isfinite(dx))
    assert y[0] == 0 and y[-1] == 1 and y[3] == 0.5
    assert dx[0] == 0 and dx[-1] == 0


def check_relu_nan(kernels, put, get, dtype) -> None:
    x = np.array([np.nan, -1.0, 2.0], dtype=dtype)
    y = get(kernels.relu_forward(put(x)))
    assert np.isnan(y[0]) and y[1] == 0 and y[2] == 2


def check_avg_pool(kernels, put, get, shape, dtype, seed: int = 0) -> None:
    rng = _rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    g = rng.standard_normal(shape[:2] + (1, 1)).astype(dtype)
    y_ref, dx_ref = _torch_grad(lambda t: torch.nn.functional.adaptive_avg_pool2d(t, 1), x, g)
    y = get(kernels.avg_pool_forward(put(x)))
    assert_close(y, y_ref, dtype, "avg_pool forward vs torch")
    assert_close(y, avg_pool.forward(x), dtype, "avg_pool forward vs numba")
    assert_close(get(kernels.avg_pool_backward(put(g), x.shape)), dx_ref, dtype, "avg_pool backward vs torch")


def check_pixel_shuffle(kernels, put, get, shape, r, dtype, seed: int = 0) -> None:
    n, c, h, w = shape
    rng = _rng(seed)
    x = rng.standard_normal((n, c * r * r, h, w)).astype(dtype)
    g = rng.standard_normal((n, c, h * r, w * r)).astype(dtype)
    y_ref, dx_ref = _torch_grad(lambda t: torch.nn.functional.pixel_shuffle(t, r), x, g)
    y = get(kernels.pixel_shuffle(put(x), r))
    assert np.array_equal(y, y_ref), "pixel_shuffle forward"
    assert np.array_equal(y, pixel_shuffle.pixel_shuffle(x, r)), "pixel_shuffle vs numba"
    assert np.array_equal(get(kernels.pixel_unshuffle(put(g), r)), dx_ref), "pixel_shuffle backward (unshuffle)"
    assert np.array_equal(get(kernels.pixel_unshuffle(put(y), r)), x), "unshuffle inverts shuffle"
