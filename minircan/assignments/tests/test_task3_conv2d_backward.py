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
