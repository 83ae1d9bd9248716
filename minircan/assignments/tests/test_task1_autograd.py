"""Task 1: the backward pass (minircan/autograd.py): topological order, accumulation over fan-out, no_grad.

Only arithmetic ops are used here (they compute with NumPy directly), so no other task's code is involved.
"""

import numpy as np
import pytest

import minircan
from minircan.autograd import Function, topological_order

pytestmark = pytest.mark.task("1")


def leaf(values) -> minircan.Tensor:
    return minircan.tensor(np.asarray(values, dtype=np.float64), requires_grad=True)


def grad_of(t: minircan.Tensor) -> np.ndarray:
    assert t.grad is not None, "a leaf that requires grad got no .grad from backward()"
    return t.grad.numpy()


def test_chain_rule_through_a_few_ops():
    x, y = leaf([1.0, -2.0, 3.0]), leaf([0.5, 4.0, -1.0])
    ((x * y + x) / 2).sum().backward()
    np.testing.assert_allclose(grad_of(x), (y.numpy() + 1) / 2, err_msg="d/dx of sum((x*y + x)/2)")
    np.testing.assert_allclose(grad_of(y), x.numpy() / 2, err_msg="d/dy of sum((x*y + x)/2)")


def test_fan_out_gradients_add_up():
    """a is used three times; its gradient is the sum of the three paths' gradients."""
    x = leaf([0.5, -1.5, 2.0])
    a = x * 2
    (a * a + a * 3 - a).sum().backward()
    # d/dx = (2a + 3 - 1) * 2 with a = 2x
    np.testing.assert_allclose(grad_of(x), (4 * x.numpy() + 2) * 2, err_msg="fan-out: a used three times")


def test_fan_out_gradients_are_added_without_aliasing():
    """a = 2x, b = 3x, out = (a + b) + a: the addition hands the same gradient array to both of its inputs,
    so adding into it in place (g += ...) would change another node's gradient too. d out / dx = 2 + 3 + 2."""
    x = leaf([1.0, -2.0, 0.5])
    a, b = x * 2, x * 3
    ((a + b) + a).sum().backward()
    np.testing.assert_allclose(grad_of(x), np.full(3, 7.0), err_msg=(
        "fan-out through additions: d/dx of sum((2x + 3x) + 2x) is 7; a larger value means a gradient was added "
        "in place into an array that another node also holds (write grads[n] = grads[n] + g, not +=)"))
    y = leaf([2.0])
    c = y * 1.5
    (c + c + c).sum().backward()
    np.testing.assert_allclose(grad_of(y), [4.5], err_msg="d/dy of c + c + c with c = 1.5 y (one node used 3 times)")


def test_diamond_graph_each_node_once():
    x = leaf([1.0, 2.0])
    top = x * 3
    left, right = top * top, top + 1
    (left * right).sum().backward()
    t = 3 * x.numpy()
    np.testing.assert_allclose(grad_of(x), (2 * t * (t + 1) + t * t) * 3, err_msg="diamond x -> top -> (left, right)")


def test_topological_order_lists_every_node_once_inputs_first():
    x = leaf([1.0, 2.0])
    a = x * 2
    b, c = a + 1, a * a
    d = b * c + a
    out = d.sum()
    order = topological_order(out.grad_fn)
    assert all(isinstance(n, Function) for n in order), "topological_order must return graph nodes (Functions)"
    ids = [id(n) for n in order]
    assert len(ids) == len(set(ids)), "a node appears more than once in the topological order"
    expected = {id(t.grad_fn) for t in (a, b, c, d, out)}
    assert expected <= set(ids), "the topological order misses a node reachable from the root"
    position = {id(n): i for i, n in enumerate(order)}
    for node in order:
        for made_input in node.parents:
            if isinstance(made_input, Function):
                assert position[id(made_input)] < position[id(node)], (
                    f"{type(made_input).__name__} comes after {type(node).__name__}, which uses its output")
    assert order[-1] is out.grad_fn, "the root (the node being differentiated) must come last"


def test_a_deep_chain_does_not_recurse():
    """5000 chained ops: a recursive walk would exceed Python's recursion limit (1000)."""
    x = leaf([1.0])
    y = x
    for _ in range(5000):
        y = y + 1
    y.sum().backward()
    np.testing.assert_allclose(grad_of(x), [1.0], err_msg="gradient through 5000 chained additions")


def test_leaf_gradients_accumulate_over_backward_calls():
    x = leaf([1.0, 2.0])
    (x * 3).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_allclose(grad_of(x), 3 + 2 * x.numpy(), err_msg=".grad after two backward() calls")


def test_only_leaves_that_require_grad_get_one():
    x, c = leaf([1.0, 2.0]), minircan.tensor(np.array([3.0, 4.0]))
    (x * c + c).sum().backward()
    np.testing.assert_allclose(grad_of(x), c.numpy(), err_msg="d/dx of sum(x*c + c)")
    assert c.grad is None, "a tensor with requires_grad=False must not get a .grad"


def test_explicit_upstream_gradient():
    x = leaf([[1.0, 2.0], [3.0, 4.0]])
    y = x * x
    g = np.array([[1.0, -1.0], [0.5, 2.0]])
    y.backward(g)
    np.testing.assert_allclose(grad_of(x), 2 * x.numpy() * g, err_msg="backward(g) of y = x*x")


def test_retain_graph_allows_a_second_pass_and_otherwise_refuses():
    x = leaf([1.0, -1.0])
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(grad_of(x), 4 * x.numpy(), err_msg="two backward passes with retain_graph=True")
    z = (x * x).sum()
    z.backward()
    with pytest.raises(RuntimeError):
        z.backward()  # the saved arrays were freed by the first pass


def test_no_grad_records_nothing_and_restores_the_mode():
    x = leaf([1.0, 2.0])
    with minircan.no_grad():
        assert not minircan.is_grad_enabled(), "inside no_grad(), is_grad_enabled() must be False"
        y = x * 2
        with minircan.enable_grad():
            assert minircan.is_grad_enabled(), "enable_grad() inside no_grad() turns recording back on"
            z = x * 2
        assert not minircan.is_grad_enabled(), "leaving enable_grad() must restore the no_grad mode"
    assert minircan.is_grad_enabled(), "leaving no_grad() must restore recording"
    assert not y.requires_grad and y.grad_fn is None, "an op under no_grad() must not be recorded"
    assert z.requires_grad, "an op under enable_grad() must be recorded"


def test_nested_no_grad_restores_the_mode_it_found():
    """__exit__ restores the mode that was on at __enter__ (saved there), not the opposite of its own mode."""
    x = leaf([1.0, 2.0])
    with minircan.no_grad():
        with minircan.no_grad():
            assert not minircan.is_grad_enabled(), "inside two no_grad() blocks, is_grad_enabled() must be False"
        assert not minircan.is_grad_enabled(), (
            "after an inner no_grad() block ends inside an outer one, recording must stay off (restore the mode "
            "saved in __enter__)")
        y = x * 2
    assert minircan.is_grad_enabled(), "leaving the outer no_grad() must restore recording"
    assert y.grad_fn is None, "an op after a nested no_grad() block, still inside the outer one, was recorded"
    with minircan.enable_grad():
        with minircan.enable_grad():
            pass
        assert minircan.is_grad_enabled(), "after a nested enable_grad() block, recording must stay on"
    with minircan.no_grad():
        with minircan.enable_grad():
            with minircan.enable_grad():
                pass
            assert minircan.is_grad_enabled(), "enable_grad() inside enable_grad() inside no_grad(): still on"
        assert not minircan.is_grad_enabled(), "back in no_grad(): off"


def test_no_grad_restores_the_mode_after_an_exception_and_works_as_a_decorator():
    with pytest.raises(KeyError):
        with minircan.no_grad():
            raise KeyError("boom")
    assert minircan.is_grad_enabled(), "an exception inside no_grad() must still restore recording"

    @minircan.no_grad()
    def double(t):
        return t * 2

    assert not double(leaf([1.0])).requires_grad, "no_grad() as a decorator"
    assert minircan.is_grad_enabled()


def test_gradcheck_of_a_composite_expression():
    """Central differences (which run under your no_grad) against your backward pass."""
    rng = np.random.default_rng(1)
    x = leaf(rng.standard_normal((3, 4)))
    w = leaf(rng.standard_normal((3, 4)))

    def f(x, w):
        h = x * w + x * x
        return (h * h / (w * w + 1) - h.mean(axis=1, keepdims=True)).sum(axis=0)

    result = minircan.gradcheck(f, [x, w], raise_exception=False)
    assert result.passed, f"gradcheck: {result}"
