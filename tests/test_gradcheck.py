"""gradcheck of every op in float64 (central differences over every element, random upstream
gradient), and proof that gradcheck catches a wrong backward."""

import numpy as np
import pytest

import minircan
import minircan.functional as F
from minircan.autograd import Function


def _t(rng, *shape, scale=1.0):
    return minircan.tensor(rng.standard_normal(shape) * scale, requires_grad=True)


@pytest.mark.parametrize("stride,padding,k", [(1, 0, 1), (1, 1, 3), (2, 2, 3), (2, 1, 5)])
def test_gradcheck_conv2d(rng, stride, padding, k):
    x, w, b = _t(rng, 2, 2, 7, 6), _t(rng, 3, 2, k, k), _t(rng, 3)
    result = minircan.gradcheck(lambda x, w, b: F.conv2d(x, w, b, stride=stride, padding=padding), [x, w, b])
    assert result.passed and result.checked == x.numel() + w.numel() + b.numel()


@pytest.mark.parametrize("name", ["relu", "sigmoid", "avg_pool", "pixel_shuffle", "pixel_unshuffle", "l1", "mse"])
def test_gradcheck_ops(rng, name):
    x = _t(rng, 2, 4, 3, 5)
    x.data[np.abs(x.data) < 1e-3] = 0.5  # keep relu/abs away from their kink, where the derivative jumps
    target = minircan.tensor(rng.standard_normal((2, 4, 3, 5)))
    fn = {
        "relu": F.relu, "sigmoid": F.sigmoid, "avg_pool": lambda t: F.adaptive_avg_pool2d(t, 1),
        "pixel_shuffle": lambda t: F.pixel_shuffle(t, 2),
        "pixel_unshuffle": lambda t: F.pixel_unshuffle(t.reshape(2, 1, 6, 10), 2),
        "l1": lambda t: F.l1_loss(t, target), "mse": lambda t: F.mse_loss(t, target),
    }[name]
    assert minircan.gradcheck(fn, [x]).passed


def test_gradcheck_channel_attention_block(rng):
    # A small channel-attention pattern: pool -> 1x1 conv -> relu -> 1x1 conv -> sigmoid -> rescale.
    x, w1, b1, w2, b2 = _t(rng, 2, 4, 5, 5), _t(rng, 2, 4, 1, 1), _t(rng, 2), _t(rng, 4, 2, 1, 1), _t(rng, 4)

    def ca(x, w1, b1, w2, b2):
        y = F.adaptive_avg_pool2d(x, 1)
        y = F.sigmoid(F.conv2d(F.relu(F.conv2d(y, w1, b1)), w2, b2))
        return x * y

    assert minircan.gradcheck(ca, [x, w1, b1, w2, b2]).passed


def test_gradcheck_catches_a_wrong_backward(rng):
    class WrongSquare(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * x  # should be 2 x g

    x = _t(rng, 3, 4)
    result = minircan.gradcheck(WrongSquare.apply, [x], raise_exception=False)
    assert not result.passed and result.max_rel_error > 0.4
    with pytest.raises(minircan.GradcheckError, match="FAILED"):
        minircan.gradcheck(WrongSquare.apply, [x])


def test_gradcheck_catches_a_transposed_weight_gradient(rng):
    # A subtle bug that a sum() upstream and a single sampled element would likely miss.
    class BadConv(Function):
        @staticmethod
        def forward(ctx, x, w):
            ctx.save_for_backward(x, w)
            return ctx.kernels.conv2d_forward(x, w, None, (1, 1), (1, 1))

        @staticmethod
        def backward(ctx, g):
            x, w = ctx.saved_tensors
            dw, _ = ctx.kernels.conv2d_backward_params(g, x, w.shape, (1, 1), (1, 1), False)
            return (ctx.kernels.conv2d_backward_input(g, w, x.shape, (1, 1), (1, 1)),
                    dw[:, :, ::-1, ::-1].copy())  # flipped kernel: wrong

    x, w = _t(rng, 1, 2, 5, 5), _t(rng, 2, 2, 3, 3)
    assert not minircan.gradcheck(BadConv.apply, [x, w], raise_exception=False).passed


def test_gradcheck_refuses_float32(rng):
    x = minircan.tensor(rng.standard_normal(3).astype(np.float32), requires_grad=True)
    with pytest.raises(ValueError, match="float64"):
        minircan.gradcheck(F.relu, [x])
