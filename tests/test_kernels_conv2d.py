"""conv2d kernels: forward and the three gradients against PyTorch, the naive 7-loop reference, and
themselves (determinism), over a Hypothesis sweep of shapes, strides and paddings (each axis drawn on its
own, so that a mix-up of the two axes shows), and with the batch lowered in several chunks."""

import numpy as np
import pytest
import torch
from conftest import assert_close, noncontiguous
from hypothesis import assume, given
from hypothesis import strategies as st

from minircan.kernels import conv2d as K


@st.composite
def conv_cases(draw):
    # Every per-axis setting is drawn on its own: equal values on both axes would hide an (h, w) mix-up.
    kh, kw = draw(st.sampled_from([1, 3, 5])), draw(st.sampled_from([1, 2, 3, 5]))
    sh, sw = draw(st.sampled_from([1, 2])), draw(st.sampled_from([1, 2, 3]))
    ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    n, c, out_c = draw(st.integers(1, 2)), draw(st.integers(1, 4)), draw(st.integers(1, 4))
    h, w = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    assume(kh <= h + 2 * ph and kw <= w + 2 * pw)
    return dict(n=n, c=c, out_c=out_c, h=h, w=w, kh=kh, kw=kw, stride=(sh, sw), pad=(ph, pw),
                contiguous=draw(st.booleans()), seed=draw(st.integers(0, 2**31 - 1)))


def _data(case, dtype):
    rng = np.random.default_rng(case["seed"])
    x = rng.standard_normal((case["n"], case["c"], case["h"], case["w"])).astype(dtype)
    w = rng.standard_normal((case["out_c"], case["c"], case["kh"], case["kw"])).astype(dtype)
    b = rng.standard_normal(case["out_c"]).astype(dtype)
    if not case["contiguous"]:
        x, w = noncontiguous(x), noncontiguous(w)
    s, p = tuple(case["stride"]), tuple(case["pad"])
    ho, wo = K.output_size(case["h"], case["w"], case["kh"], case["kw"], s, p)
    g = rng.standard_normal((case["n"], case["out_c"], ho, wo)).astype(dtype)  # random upstream gradient
    return x, w, b, g, s, p


def _torch(x, w, b, g, s, p):
    tx, tw, tb = (torch.tensor(np.ascontiguousarray(a), requires_grad=True) for a in (x, w, b))
    y = torch.nn.functional.conv2d(tx, tw, tb, stride=s, padding=p)
    y.backward(torch.tensor(g))
    return y.detach().numpy(), tx.grad.numpy(), tw.grad.numpy(), tb.grad.numpy()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@given(case=conv_cases())
def test_conv2d_matches_torch(case, dtype):
    x, w, b, g, s, p = _data(case, dtype)
    y, dx, dw, db = _torch(x, w, b, g, s, p)
    assert_close(K.forward(x, w, b, s, p), y, dtype, "forward")
    assert_close(K.backward_input(g, w, x.shape, s, p), dx, dtype, "input gradient")
    assert_close(K.backward_weight(g, x, w.shape, s, p), dw, dtype, "weight gradient")
    assert_close(K.backward_bias(g), db, dtype, "bias gradient")
    dw2, db2 = K.backward_params(g, x, w.shape, s, p, bias=True)
    assert_close(dw2, dw, dtype, "weight gradient with the bias row")
    assert_close(db2, db, dtype, "bias gradient from the product")
    assert K.backward_params(g, x, w.shape, s, p, bias=False)[1] is None


@given(case=conv_cases())
def test_conv2d_matches_naive_reference(case):
    x, w, b, g, s, p = _data(case, np.float64)
    sh, sw, ph, pw = s + p
    xc, wc = np.ascontiguousarray(x), np.ascontiguousarray(w)
    assert_close(K.forward(x, w, b, s, p), K.forward_naive(xc, wc, b, sh, sw, ph, pw), np.float64, "forward")
    assert_close(K.backward_input(g, w, x.shape, s, p),
                 K.backward_input_naive(g, wc, x.shape[2], x.shape[3], sh, sw, ph, pw), np.float64, "input grad")
    assert_close(K.backward_weight(g, x, w.shape, s, p),
                 K.backward_weight_naive(g, xc, w.shape[2], w.shape[3], sh, sw, ph, pw), np.float64, "weight grad")


def test_naive_reference_matches_torch(rng):
    # The reference itself is checked, so that the sweep above compares against something true.
    x, w, b = rng.standard_normal((2, 3, 7, 5)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
    y = torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(w), torch.tensor(b), stride=2, padding=1)
    assert_close(K.forward_naive(x, w, b, 2, 2, 1, 1), y.numpy(), np.float64, "naive forward")
    y0 = torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(w), None, stride=1, padding=2)
    assert_close(K.forward_naive(x, w, np.empty(0), 1, 1, 2, 2), y0.numpy(), np.float64, "naive, no bias")


def test_conv2d_rcan_layer_shape_float32(rng):
    # The shape of an RCAB conv (64 channels, 3x3, padding 1) on a small batch.
    x = rng.standard_normal((2, 64, 12, 11)).astype(np.float32)
    w = (rng.standard_normal((64, 64, 3, 3)) * 0.05).astype(np.float32)
    b = rng.standard_normal(64).astype(np.float32)
    g = rng.standard_normal((2, 64, 12, 11)).astype(np.float32)
    y, dx, dw, db = _torch(x, w, b, g, (1, 1), (1, 1))
    assert_close(K.forward(x, w, b, (1, 1), (1, 1)), y, np.float32, "forward")
    assert_close(K.backward_input(g, w, x.shape, (1, 1), (1, 1)), dx, np.float32, "input gradient")
    assert_close(K.backward_weight(g, x, w.shape, (1, 1), (1, 1)), dw, np.float32, "weight gradient")
    assert_close(K.backward_bias(g), db, np.float32, "bias gradient")


def test_conv2d_no_bias_and_rectangular_kernel(rng):
    x, w = rng.standard_normal((1, 2, 6, 7)), rng.standard_normal((3, 2, 1, 3))
    y = torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(w), None, stride=(2, 1), padding=(0, 1))
    assert_close(K.forward(x, w, None, (2, 1), (0, 1)), y.numpy(), np.float64, "forward")


def test_conv2d_is_deterministic(rng):
    x = rng.standard_normal((3, 16, 13, 13)).astype(np.float32)
    w = rng.standard_normal((8, 16, 3, 3)).astype(np.float32)
    g = rng.standard_normal((3, 8, 13, 13)).astype(np.float32)
    for f in (lambda: K.forward(x, w, None, (1, 1), (1, 1)),
              lambda: K.backward_input(g, w, x.shape, (1, 1), (1, 1)),
              lambda: K.backward_weight(g, x, w.shape, (1, 1), (1, 1)),
              lambda: K.backward_params(g, x, w.shape, (1, 1), (1, 1), bias=True)[1]):
        first = f()
        for _ in range(3):
            assert np.array_equal(f(), first)


def test_im2col_col2im_are_adjoint(rng):
    # <im2col(x), c> == <x, col2im(c)> for every x, c: the defining property of the input gradient.
    x = rng.standard_normal((2, 3, 7, 6))
    kh, kw, sh, sw, ph, pw = 3, 2, 2, 1, 1, 2
    ho, wo = K.output_size(7, 6, kh, kw, (sh, sw), (ph, pw))
    cols = np.empty((2, 3 * kh * kw, ho * wo))
    K.im2col(x, cols, kh, kw, sh, sw, ph, pw)
    c = rng.standard_normal(cols.shape)
    back = np.empty_like(x)
    K.col2im(c, back, kh, kw, sh, sw, ph, pw)
    assert abs(np.sum(cols * c) - np.sum(x * back)) < 1e-10 * np.abs(cols * c).sum()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_conv2d_lowered_in_several_chunks_matches_torch(monkeypatch, rng, dtype):
    # The kernels lower a few images at a time (COLS_BUDGET bytes of columns). Forced small here, a batch of
    # 7 goes in chunks of 3, 3 and a last partial chunk of 1, as `train --tiny` batches do (16 images, 4 a
    # chunk): each chunk must read and write its own images, and the weight gradient sum every chunk.
    n, c, h, w, k_out, kh, kw, s, p = 7, 3, 9, 8, 4, 3, 2, (2, 1), (1, 0)
    ho, wo = K.output_size(h, w, kh, kw, s, p)
    rows = c * kh * kw
    monkeypatch.setattr(K, "COLS_BUDGET", 3 * (rows + 1) * ho * wo * np.dtype(dtype).itemsize)
    for r in (rows, rows + 1):  # with and without the bias's row of ones: 3 images a chunk either way
        assert K.images_per_chunk(n, r, ho * wo, np.dtype(dtype).itemsize) == 3
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    wt = rng.standard_normal((k_out, c, kh, kw)).astype(dtype)
    b = rng.standard_normal(k_out).astype(dtype)
    g = rng.standard_normal((n, k_out, ho, wo)).astype(dtype)
    y, dx, dw, db = _torch(x, wt, b, g, s, p)
    assert_close(K.forward(x, wt, b, s, p), y, dtype, "forward, chunked")
    y0 = torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(wt), None, stride=s, padding=p).numpy()
    assert_close(K.forward(x, wt, None, s, p), y0, dtype, "forward without bias, chunked")
    assert_close(K.backward_input(g, wt, x.shape, s, p), dx, dtype, "input gradient, chunked")
    assert_close(K.backward_weight(g, x, wt.shape, s, p), dw, dtype, "weight gradient, chunked")
    dw2, db2 = K.backward_params(g, x, wt.shape, s, p, bias=True)
    assert_close(dw2, dw, dtype, "weight gradient with the bias row, chunked")
    assert_close(db2, db, dtype, "bias gradient from the product, chunked")
