"""The engine: graph shapes (diamond, fan-out, reuse), long chains, no_grad, accumulation, broadcasting,
freeing the graph, and the arithmetic ops against PyTorch."""

import numpy as np
import pytest
import torch
from conftest import assert_close

import minircan
from minircan.autograd import Function, topological_order


def _pair(rng, shape, dtype=np.float64):
    a = rng.standard_normal(shape).astype(dtype)
    return minircan.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)


def test_diamond_graph(rng):
    # a -> b, a -> c, (b, c) -> d: a's gradient is the sum over both paths.
    a, ta = _pair(rng, (3, 4))
    d = ((a * 2.0).sigmoid() * (a - 1.0).relu()).sum()
    td = (torch.sigmoid(ta * 2.0) * torch.relu(ta - 1.0)).sum()
    d.backward()
    td.backward()
    assert_close(a.grad.data, ta.grad.numpy(), np.float64, "diamond")


def test_fan_out_and_tensor_used_twice(rng):
    a, ta = _pair(rng, (5,))
    b, tb = _pair(rng, (5,))
    g = rng.standard_normal(5)
    y = a * a + a * b - b / (a * a + 2.0)  # a appears four times, b twice
    ty = ta * ta + ta * tb - tb / (ta * ta + 2.0)
    y.backward(g)
    ty.backward(torch.tensor(g))
    assert_close(a.grad.data, ta.grad.numpy(), np.float64, "a")
    assert_close(b.grad.data, tb.grad.numpy(), np.float64, "b")


def test_chain_of_10000_ops_has_no_recursion_limit():
    x = minircan.tensor(np.array([0.5]), requires_grad=True)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.sum().backward()
    assert np.isclose(x.grad.data[0], 1.0001**10_000, rtol=1e-9)


def test_topological_order_puts_inputs_first(rng):
    a, _ = _pair(rng, (2,))
    b = a * 2.0
    c = b + a
    d = c * b
    order = topological_order(d.grad_fn)
    pos = {id(n): i for i, n in enumerate(order)}
    assert pos[id(b.grad_fn)] < pos[id(c.grad_fn)] < pos[id(d.grad_fn)]
    assert len(order) == 3


def test_no_grad_records_nothing(rng):
    a, _ = _pair(rng, (3,))
    with minircan.no_grad():
        b = a * 2.0
    assert not b.requires_grad and b.grad_fn is None
    c = a * 2.0
    assert c.requires_grad and c.grad_fn is not None

    @minircan.no_grad()
    def f(t):
        return t * 3.0

    assert not f(a).requires_grad


def test_gradients_accumulate_over_two_backward_calls(rng):
    a, ta = _pair(rng, (4,))
    for _ in range(2):
        (a * a).sum().backward()
        (ta * ta).sum().backward()
    assert_close(a.grad.data, ta.grad.numpy(), np.float64, "accumulated")
    assert_close(a.grad.data, 4 * a.data, np.float64, "2 x 2a")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_broadcast_gradients_channel_scale(rng, dtype):
    # Channel attention's rescale: (N, C, 1, 1) * (N, C, H, W).
    s, ts = _pair(rng, (2, 3, 1, 1), dtype)
    x, tx = _pair(rng, (2, 3, 5, 4), dtype)
    g = rng.standard_normal((2, 3, 5, 4)).astype(dtype)
    (s * x).backward(g)
    (ts * tx).backward(torch.tensor(g))
    assert s.grad.shape == (2, 3, 1, 1)
    assert_close(s.grad.data, ts.grad.numpy(), dtype, "scale")
    assert_close(x.grad.data, tx.grad.numpy(), dtype, "features")


def test_broadcast_gradients_leading_axes(rng):
    b, tb = _pair(rng, (4,))
    x, tx = _pair(rng, (2, 3, 4))
    g = rng.standard_normal((2, 3, 4))
    (x + b).backward(g)
    (tx + tb).backward(torch.tensor(g))
    assert_close(b.grad.data, tb.grad.numpy(), np.float64, "bias over leading axes")


@pytest.mark.parametrize("op", ["add", "sub", "mul", "div", "neg", "pow", "abs", "sum", "mean", "sum_axis",
                                "mean_axis_keepdims", "reshape", "rsub", "rdiv"])
def test_arithmetic_matches_torch(rng, op):
    a, ta = _pair(rng, (3, 4))
    b, tb = _pair(rng, (3, 4))
    b.data += 3.0 * np.sign(b.data)  # keep divisors away from 0
    tb = torch.tensor(b.data, requires_grad=True)
    f = {
        "add": lambda x, y: x + y, "sub": lambda x, y: x - y, "mul": lambda x, y: x * y,
        "div": lambda x, y: x / y, "neg": lambda x, y: -x, "pow": lambda x, y: x**3,
        "abs": lambda x, y: x.abs(), "sum": lambda x, y: (x * y).sum(), "mean": lambda x, y: (x * y).mean(),
        "sum_axis": lambda x, y: (x * y).sum(axis=1) if isinstance(x, minircan.Tensor) else (x * y).sum(dim=1),
        "mean_axis_keepdims": lambda x, y: x.mean(axis=0, keepdims=True) if isinstance(x, minircan.Tensor)
        else x.mean(dim=0, keepdim=True),
        "reshape": lambda x, y: x.reshape(4, 3) * y.reshape(4, 3),
        "rsub": lambda x, y: 2.0 - x, "rdiv": lambda x, y: 2.0 / y,
    }[op]
    y, ty = f(a, b), f(ta, tb)
    g = rng.standard_normal(ty.shape)
    y.backward(g)
    ty.backward(torch.tensor(g))
    assert_close(y.data, ty.detach().numpy(), np.float64, "forward")
    for mine, ref in ((a, ta), (b, tb)):
        if ref.grad is None:
            assert mine.grad is None
        else:
            assert_close(mine.grad.data, ref.grad.numpy(), np.float64, "gradient")


def test_graph_is_freed_unless_retained(rng):
    a, _ = _pair(rng, (3,))
    y = (a.sigmoid() * 2.0).sum()
    y.backward(retain_graph=True)
    y.backward()  # allowed: the first call kept the graph
    s = 1 / (1 + np.exp(-a.data))
    assert_close(a.grad.data, 2 * (2 * s * (1 - s)), np.float64, "two backward passes")
    with pytest.raises(RuntimeError, match="retain_graph"):
        y.backward()


def test_backward_frees_saved_arrays(rng):
    a, _ = _pair(rng, (3,))
    h = a.sigmoid()
    y = (h * h).sum()
    y.backward()
    assert h.grad_fn.saved_tensors == ()


def test_custom_function_and_detach(rng):
    class Cube(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x**3

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 3 * x**2 * g

    a, _ = _pair(rng, (4,))
    Cube.apply(a).sum().backward()
    assert_close(a.grad.data, 3 * a.data**2, np.float64, "cube")
    d = a.detach()
    assert not d.requires_grad and d.grad_fn is None and d.data is a.data


def test_backward_needs_scalar_or_grad(rng):
    a, _ = _pair(rng, (3,))
    with pytest.raises(RuntimeError, match="single-element"):
        (a * 2.0).backward()
    with pytest.raises(ValueError, match="shape"):
        (a * 2.0).backward(np.ones(4))


def test_wrong_gradient_shape_from_a_function_is_reported(rng):
    class Bad(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g.sum()

    a, _ = _pair(rng, (3,))
    with pytest.raises(RuntimeError, match="Bad.backward returned a gradient of shape"):
        Bad.apply(a).backward(np.ones(3))


def test_float32_is_the_default_and_float64_is_kept():
    assert minircan.tensor([1.0, 2.0]).dtype == np.float32
    assert minircan.tensor(np.zeros(2)).dtype == np.float64
    assert minircan.tensor(np.zeros(2, dtype=np.int64)).dtype == np.float32
    assert (minircan.tensor([1.0]) * 2).dtype == np.float32


def test_numbers_take_the_tensor_dtype_arrays_keep_theirs():
    t = minircan.tensor(np.ones(3, dtype=np.float32))
    assert (t * np.float64(2.0)).dtype == np.float32
    assert (t * np.array(2.0)).dtype == np.float32  # a 0-d array is a number
    with pytest.raises(ValueError, match="different dtypes"):
        t * np.ones(3)  # a float64 array: mixing dtypes is an error, not a silent cast


def test_fan_out_at_an_intermediate_node(rng):
    # h is made by an op and used three times: its gradient is the sum of the three uses' gradients before
    # its own backward runs (a diamond that meets only at the leaf would not notice an overwrite here).
    a, ta = _pair(rng, (3, 4))
    g = rng.standard_normal((3, 4))
    h, th = a.sigmoid(), torch.sigmoid(ta)
    y = h * 2.0 + h * h - h.relu()
    ty = th * 2.0 + th * th - torch.relu(th)
    y.backward(g)
    ty.backward(torch.tensor(g))
    assert_close(a.grad.data, ta.grad.numpy(), np.float64, "fan-out at an intermediate node")


def test_topological_order_of_a_long_diamond(rng):
    # Two paths of different lengths from one intermediate node: every node comes after all its inputs.
    a, ta = _pair(rng, (4,))
    h, th = a * 3.0, ta * 3.0
    long, tlong = h, th
    for _ in range(5):
        long, tlong = long.sigmoid(), tlong.sigmoid()
    y, ty = (long * h).sum(), (tlong * th).sum()
    order = topological_order(y.grad_fn)
    pos = {id(n): i for i, n in enumerate(order)}
    for node in order:
        for parent in node.parents:
            if isinstance(parent, Function):
                assert pos[id(parent)] < pos[id(node)]
    y.backward()
    ty.backward()
    assert_close(a.grad.data, ta.grad.numpy(), np.float64, "long diamond")


def test_grad_mode_is_restored_by_nested_blocks_and_exceptions(rng):
    a, _ = _pair(rng, (3,))
    assert minircan.is_grad_enabled()
    with minircan.no_grad():
        assert not minircan.is_grad_enabled()
        with minircan.enable_grad():
            assert minircan.is_grad_enabled()
            assert (a * 2.0).grad_fn is not None  # recorded again inside enable_grad
            with minircan.no_grad():
                assert not minircan.is_grad_enabled()
            assert minircan.is_grad_enabled()
        assert not minircan.is_grad_enabled()  # back to the outer no_grad, not to "on"
        with minircan.no_grad():
            pass
        assert not minircan.is_grad_enabled()
    assert minircan.is_grad_enabled()
    with pytest.raises(RuntimeError):
        with minircan.no_grad():
            raise RuntimeError("inside no_grad")
    assert minircan.is_grad_enabled()  # an exception inside the block still restores the mode

    @minircan.no_grad()
    def boom():
        raise KeyError("x")

    with pytest.raises(KeyError):
        boom()
    assert minircan.is_grad_enabled() and (a * 2.0).grad_fn is not None
    with minircan.no_grad():
        with pytest.raises(ValueError):
            with minircan.enable_grad():
                raise ValueError
        assert not minircan.is_grad_enabled()
    assert minircan.is_grad_enabled()


def test_broadcast_gradient_over_middle_and_leading_axes(rng):
    # (3, 1, 5) against (2, 3, 4, 5): one leading axis added and one middle axis stretched.
    s, ts = _pair(rng, (3, 1, 5))
    x, tx = _pair(rng, (2, 3, 4, 5))
    g = rng.standard_normal((2, 3, 4, 5))
    (x * s - s).backward(g)
    (tx * ts - ts).backward(torch.tensor(g))
    assert s.grad.shape == (3, 1, 5)
    assert_close(s.grad.data, ts.grad.numpy(), np.float64, "middle and leading axes")
