"""Task 3: conv2d backward (kernels/conv2d.py): input gradient, weight and bias gradients, naive and fast.

Task 2's code (the forward pass, im2col) and, in the gradient check, task 1's backward walk are stand-ins
here (oracles.py), so that only this task's code is graded.
"""

import numpy as np
import pytest
import oracles
from checks import check_close, describe_conv, references, stride_padding

import minircan
import minircan.functional as F
from minircan.kernels import conv2d

pytestmark = pytest.mark.task("3")


@pytest.fixture(autouse=True)
def _other_tasks(monkeypatch):
    oracles.install(monkeypatch, "2")  # the weight gradient lowers x with task 2's im2col


def test_naive_input_gradient_matches_the_reference():
    for case in references("3"):
        (sh, sw), (ph, pw) = stride_padding(case)
        h, w = case["x"].shape[2:]
        check_close(conv2d.backward_input_naive(case["g"], case["w"], h, w, sh, sw, ph, pw), case["dx"],
                    f"conv2d input gradient (naive), {describe_conv(case)}")


def test_naive_weight_gradient_matches_the_reference():
    for case in references("3"):
        (sh, sw), (ph, pw) = stride_padding(case)
        kh, kw = case["w"].shape[2:]
        check_close(conv2d.backward_weight_naive(case["g"], case["x"], kh, kw, sh, sw, ph, pw), case["dw"],
                    f"conv2d weight gradient (naive), {describe_conv(case)}")


def test_input_gradient_matches_the_reference():
    for case in references("3"):
        stride, padding = stride_padding(case)
        check_close(conv2d.backward_input(case["g"], case["w"], case["x"].shape, stride, padding), case["dx"],
                    f"conv2d input gradient, {describe_conv(case)}")


def test_weight_and_bias_gradients_match_the_reference():
    for case in references("3"):
        stride, padding = stride_padding(case)
        dw, db = conv2d.backward_params(case["g"], case["x"], case["w"].shape, stride, padding, True)
        check_close(dw, case["dw"], f"conv2d weight gradient, {describe_conv(case)}")
        check_close(db, case["db"], f"conv2d bias gradient, {describe_conv(case)}")
        dw_only, none = conv2d.backward_params(case["g"], case["x"], case["w"].shape, stride, padding, False)
        check_close(dw_only, case["dw"], f"conv2d weight gradient with bias=False, {describe_conv(case)}")
        assert none is None, "backward_params(..., bias=False) must return (dw, None)"
        check_close(conv2d.backward_bias(case["g"]), case["db"], f"conv2d backward_bias, {describe_conv(case)}")


def test_col2im_adds_every_column_back_onto_a_fresh_start():
    """col2im overwrites dx (here full of 7s, as np.empty may be): every pixel is the sum of the column entries
    that were copied from it, and a pixel no column read is 0."""
    rng = np.random.default_rng(31)
    for (n, c, h, w, kh, kw, sh, sw, ph, pw) in ((2, 3, 6, 7, 3, 3, 1, 1, 1, 1), (1, 2, 7, 6, 3, 2, 2, 3, 0, 1)):
        ho, wo = conv2d.output_size(h, w, kh, kw, (sh, sw), (ph, pw))
        cols = rng.standard_normal((n, c * kh * kw, ho * wo))
        expected = np.full((n, c, h, w), 7.0)
        oracles.col2im(cols, expected, kh, kw, sh, sw, ph, pw)
        dx = np.full((n, c, h, w), 7.0)
        conv2d.col2im(cols, dx, kh, kw, sh, sw, ph, pw)
        check_close(dx, expected, f"col2im into dx {dx.shape} (full of 7s before the call), kernel {kh}x{kw}, "
                                  f"stride {(sh, sw)}, padding {(ph, pw)}")


def test_gradients_over_several_chunks(monkeypatch):
    """With a small column budget (conv2d.COLS_BUDGET), images_per_chunk gives 2: batches of 5 and 3 images
    go in chunks of 2 and a last partial one, whose images count too."""
    split = 0
    for case in references("3"):
        n, (_, c, kh, kw) = case["x"].shape[0], case["w"].shape
        if n < 3:
            continue
        stride, padding = stride_padding(case)
        ho, wo = case["g"].shape[2:]
        monkeypatch.setattr(conv2d, "COLS_BUDGET", 2 * c * kh * kw * ho * wo * case["x"].itemsize)
        assert conv2d.images_per_chunk(n, c * kh * kw, ho * wo, case["x"].itemsize) == 2
        what = f"in chunks of 2 images (the last one partial), {describe_conv(case)}"
        check_close(conv2d.backward_input(case["g"], case["w"], case["x"].shape, stride, padding), case["dx"],
                    f"conv2d input gradient {what}")
        dw, db = conv2d.backward_params(case["g"], case["x"], case["w"].shape, stride, padding, True)
        check_close(dw, case["dw"], f"conv2d weight gradient {what}")
        check_close(db, case["db"], f"conv2d bias gradient {what}")
        split += 1
    assert split >= 2, "the reference cases must hold batches that split into chunks"


def test_gradients_accept_non_contiguous_arrays():
    case = references("3")[0]
    stride, padding = stride_padding(case)
    g = np.ascontiguousarray(np.swapaxes(case["g"], 2, 3)).swapaxes(2, 3)
    x = np.ascontiguousarray(np.swapaxes(case["x"], 2, 3)).swapaxes(2, 3)
    check_close(conv2d.backward_input(g, case["w"], x.shape, stride, padding), case["dx"],
                f"conv2d input gradient of a non-contiguous g, {describe_conv(case)}")
    dw, db = conv2d.backward_params(g, x, case["w"].shape, stride, padding, True)
    check_close(dw, case["dw"], f"conv2d weight gradient of non-contiguous g and x, {describe_conv(case)}")


@pytest.mark.parametrize("stride,padding", [((1, 1), (1, 1)), ((2, 1), (0, 2))])
def test_gradcheck_through_autograd(monkeypatch, stride, padding):
    oracles.install(monkeypatch, "1")
    rng = np.random.default_rng(30)
    x = minircan.tensor(rng.standard_normal((2, 2, 5, 6)), requires_grad=True)
    w = minircan.tensor(rng.standard_normal((3, 2, 3, 3)), requires_grad=True)
    b = minircan.tensor(rng.standard_normal(3), requires_grad=True)
    result = minircan.gradcheck(lambda x, w, b: F.conv2d(x, w, b, stride=stride, padding=padding), [x, w, b],
                                raise_exception=False)
    names = ["input", "weight", "bias"]
    assert result.passed, (f"gradcheck of conv2d (stride {stride}, padding {padding}): the {names[result.input_index]} "
                           f"gradient is wrong, {result}")
