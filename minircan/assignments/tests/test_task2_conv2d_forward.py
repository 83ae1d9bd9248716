"""Task 2: conv2d forward (kernels/conv2d.py): the seven naive loops, then im2col and the fast kernel.

Reference values: the solution's outputs on the same inputs, computed when the release was built.
"""


import numpy as np
import pytest
import oracles
from checks import check_close, describe_conv, references, stride_padding

import minircan
import minircan.functional as F
from minircan.kernels import conv2d

pytestmark = pytest.mark.task("2")


def args(case):
    return (case["x"], case["w"], case.get("b"), *stride_padding(case))


def test_forward_naive_matches_the_reference():
    for case in references("2"):
        x, w, b, (sh, sw), (ph, pw) = args(case)
        b_or_empty = b if b is not None else np.empty(0, dtype=x.dtype)
        check_close(conv2d.forward_naive(x, w, b_or_empty, sh, sw, ph, pw), case["y"],
                    f"conv2d forward_naive, {describe_conv(case)}")


def test_im2col_copies_every_receptive_field():
    rng = np.random.default_rng(20)
    for (n, c, h, w, kh, kw, sh, sw, ph, pw) in ((2, 3, 6, 7, 3, 3, 1, 1, 1, 1), (1, 2, 7, 6, 3, 2, 2, 1, 0, 1)):
        x = rng.standard_normal((n, c, h, w))
        ho, wo = conv2d.output_size(h, w, kh, kw, (sh, sw), (ph, pw))
        expected = np.full((n, c * kh * kw + 1, ho * wo), 7.0)  # the last row (the bias's ones) stays as it is
        oracles.im2col(x, expected, kh, kw, sh, sw, ph, pw)
        cols = np.full_like(expected, 7.0)
        conv2d.im2col(x, cols, kh, kw, sh, sw, ph, pw)
        check_close(cols, expected, f"im2col of x {x.shape}, kernel {kh}x{kw}, stride {(sh, sw)}, padding {(ph, pw)}")


def test_fast_forward_matches_the_reference():
    for case in references("2"):
        check_close(conv2d.forward(*args(case)), case["y"], f"conv2d forward, {describe_conv(case)}")


def test_fast_forward_lowers_a_batch_a_few_images_at_a_time(monkeypatch):
    """With a small column budget (conv2d.COLS_BUDGET), images_per_chunk gives 2: a batch of 5 images goes in
    chunks of 2, 2 and 1, a batch of 3 in 2 and 1. Every image, the last partial chunk's too, must be computed."""
    split = 0
    for case in references("2"):
        x, w, b, stride, padding = args(case)
        n, (_, c, kh, kw) = x.shape[0], w.shape
        if n < 3:
            continue
        ho, wo = conv2d.output_size(x.shape[2], x.shape[3], kh, kw, stride, padding)
        monkeypatch.setattr(conv2d, "COLS_BUDGET", 2 * c * kh * kw * ho * wo * x.itemsize)
        assert conv2d.images_per_chunk(n, c * kh * kw, ho * wo, x.itemsize) == 2
        check_close(conv2d.forward(x, w, b, stride, padding), case["y"],
                    f"conv2d forward in chunks of 2 images (the last one partial), {describe_conv(case)}")
        split += 1
    assert split >= 2, "the reference cases must hold batches that split into chunks"


def test_fast_forward_accepts_non_contiguous_input():
    case = references("2")[0]
    x, w, b, stride, padding = args(case)
    x_t = np.ascontiguousarray(np.swapaxes(x, 2, 3)).swapaxes(2, 3)  # same values, not C-contiguous
    check_close(conv2d.forward(x_t, w, b, stride, padding), case["y"],
                f"conv2d forward of a non-contiguous x, {describe_conv(case)}")


def test_functional_conv2d_runs_your_kernel():
    case = references("2")[-1]  # float32
    x, w, b, stride, padding = args(case)
    y = F.conv2d(minircan.tensor(x), minircan.tensor(w), minircan.tensor(b), stride=stride, padding=padding)
    check_close(y.numpy(), case["y"], f"F.conv2d, {describe_conv(case)}")


def test_fast_forward_lowers_to_a_matrix_product(monkeypatch):
    """The fast kernel is im2col + one matrix product per chunk, not the loops again. (Checked by what it
    calls, not by a stopwatch: a timing test fails whenever the machine is busy. The benchmark,
    python -m minircan.bench, is where speed is measured.)"""
    calls = {"im2col": 0, "naive": 0}
    real_im2col = conv2d.im2col

    def counting_im2col(*a):
        calls["im2col"] += 1
        return real_im2col(*a)

    def no_naive(*a):
        calls["naive"] += 1
        raise AssertionError("conv2d.forward called forward_naive: the fast kernel must not use the loops")

    monkeypatch.setattr(conv2d, "im2col", counting_im2col)
    monkeypatch.setattr(conv2d, "forward_naive", no_naive)
    case = references("2")[-1]
    x, w, b, stride, padding = args(case)
    y = conv2d.forward(x, w, b, stride, padding)
    assert calls["im2col"] >= 1, "conv2d.forward never called im2col: lower the input to columns, then np.matmul"
    check_close(y, case["y"], f"conv2d forward through im2col, {describe_conv(case)}")
