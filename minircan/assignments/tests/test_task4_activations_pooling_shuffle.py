"""Task 4: ReLU, sigmoid (numerically stable), global average pooling, pixel shuffle; forward and backward.

Kernels: kernels/relu.py, kernels/sigmoid.py, kernels/avg_pool.py, kernels/pixel_shuffle.py. The gradient
checks walk the graph with a stand-in backward pass (oracles.py), so that only this task is graded.
"""

import numpy as np
import pytest
import oracles
from checks import check_close, references

import minircan
import minircan.functional as F
from minircan.kernels import avg_pool, pixel_shuffle, relu, sigmoid

pytestmark = pytest.mark.task("4")


def cases(op):
    found = [c for c in references("4") if str(c["op"]) == op]
    assert found, f"no reference cases for {op}"
    return found


def test_relu_forward_and_backward():
    for c in cases("relu"):
        y = relu.forward(c["x"])
        check_close(y, c["y"], f"relu forward, x {c['x'].shape} {c['x'].dtype}")
        check_close(relu.backward(c["g"], c["y"]), c["dx"], f"relu backward, {c['x'].dtype} (the gradient at 0 is 0)")


def test_relu_lets_nan_through():
    y = relu.forward(np.array([np.nan, -1.0, 2.0]))
    assert np.isnan(y[0]) and y[1] == 0 and y[2] == 2, f"relu([nan, -1, 2]) gave {y}, expected [nan, 0, 2]"


def test_sigmoid_forward_and_backward():
    for c in cases("sigmoid"):
        check_close(sigmoid.forward(c["x"]), c["y"], f"sigmoid forward, {c['x'].dtype}")
        check_close(sigmoid.backward(c["g"], c["y"]), c["dx"], f"sigmoid backward, {c['x'].dtype}")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_is_stable_at_extremes(dtype):
    x = np.array([-1000, -100, 0, 100, 1000], dtype=dtype)
    with np.errstate(over="raise", invalid="raise"):
        y = sigmoid.forward(x)
    assert np.all(np.isfinite(y)), f"sigmoid({x.tolist()}) = {y.tolist()}: overflow (use exp(-|x|))"
    assert y[0] == 0 and y[-1] == 1 and y[2] == 0.5, f"sigmoid({x.tolist()}) = {y.tolist()}"


def test_average_pooling_forward_and_backward():
    for c in cases("avg_pool"):
        check_close(avg_pool.forward(c["x"]), c["y"], f"avg_pool forward, x {c['x'].shape} {c['x'].dtype}")
        check_close(avg_pool.backward(c["g"], c["x"].shape), c["dx"], f"avg_pool backward, {c['x'].dtype}")


def test_pixel_shuffle_and_unshuffle():
    for c in cases("pixel_shuffle"):
        r = int(c["r"])
        check_close(pixel_shuffle.pixel_shuffle(c["x"], r), c["y"], f"pixel_shuffle r={r}, x {c['x'].shape}")
        check_close(pixel_shuffle.pixel_unshuffle(c["g"], r), c["dx"],
                    f"pixel_unshuffle r={r} (the backward of pixel_shuffle), g {c['g'].shape}")


def test_kernels_accept_non_contiguous_input():
    c = cases("relu")[0]
    x = np.ascontiguousarray(np.swapaxes(c["x"], 2, 3)).swapaxes(2, 3)
    check_close(relu.forward(x), c["y"], "relu forward of a non-contiguous x")
    p = cases("avg_pool")[0]
    xp = np.ascontiguousarray(np.swapaxes(p["x"], 2, 3)).swapaxes(2, 3)
    check_close(avg_pool.forward(xp), p["y"], "avg_pool forward of a non-contiguous x")


@pytest.mark.parametrize("name", ["relu", "sigmoid", "adaptive_avg_pool2d", "pixel_shuffle", "pixel_unshuffle"])
def test_gradcheck_through_autograd(monkeypatch, name):
    oracles.install(monkeypatch, "1")
    rng = np.random.default_rng(40)
    values = rng.standard_normal((2, 4, 4, 6))
    values[np.abs(values) < 0.05] = 0.5  # relu: stay away from the kink at 0
    x = minircan.tensor(values, requires_grad=True)
    fn = {"relu": F.relu, "sigmoid": F.sigmoid, "adaptive_avg_pool2d": lambda t: F.adaptive_avg_pool2d(t, 1),
          "pixel_shuffle": lambda t: F.pixel_shuffle(t, 2), "pixel_unshuffle": lambda t: F.pixel_unshuffle(t, 2)}[name]
    result = minircan.gradcheck(fn, [x], raise_exception=False)
    assert result.passed, f"gradcheck of {name}: {result}"
