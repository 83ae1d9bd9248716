"""The autograd engine: Function (one node of the graph) and the backward pass.

A Function's ``forward(ctx, *arrays)`` computes on plain arrays and may save what its backward needs on
``ctx``; ``backward(ctx, grad)`` maps the gradient of the output to one gradient per input (None for an
input that needs none). ``Function.apply`` runs forward on the tensors' arrays and, when gradients are on,
records the call as a node of the graph.

The graph holds nodes, not tensors: each node keeps edges to the nodes that made its inputs (or to the leaf
tensors themselves). An intermediate activation therefore stays alive only if some node saved it for its
backward, which is what keeps a 400-layer RCAN within memory.

Backward walks the graph in reverse topological order with an explicit stack (RCAN chains thousands of
nodes; recursion would hit Python's limit), adds up the gradients of a node used several times before
calling its backward, and frees each node's saved arrays once used unless ``retain_graph=True``.
"""

from __future__ import annotations

import contextlib
from typing import Any

from .tensor import Tensor

_grad_enabled = True


def is_grad_enabled() -> bool:
    """Whether new operations are being recorded for backward."""
    return _grad_enabled


class _GradMode(contextlib.ContextDecorator):
    def __init__(self, enabled: bool):
        self.enabled = enabled

    def __enter__(self):
        # BEGIN SOLUTION (task 1)
        global _grad_enabled
        self.previous, _grad_enabled = _grad_enabled, self.enabled
        # END SOLUTION

    def __exit__(self, *exc):
        # BEGIN SOLUTION (task 1)
        global _grad_enabled
        _grad_enabled = self.previous
        # END SOLUTION
        return False


def no_grad() -> _GradMode:
    """Context manager (or decorator) in which no graph is recorded, like ``torch.no_grad``."""
    return _GradMode(False)


def enable_grad() -> _GradMode:
    """Context manager (or decorator) that turns recording back on inside ``no_grad``."""
    return _GradMode(True)


class Function:
    """Base class of every differentiable op. An instance is the ``ctx`` of one call and its graph node.

    Subclasses define two static methods:
        forward(ctx, *args, **kwargs) -> array       args: arrays for tensor inputs, other values as given
        backward(ctx, grad) -> array | tuple          one gradient (or None) per positional argument
    Use ``ctx.save_for_backward(*arrays)`` / ``ctx.saved_tensors`` for arrays, attributes for the rest.
    ``ctx.needs_input_grad[i]`` says whether argument i needs a gradient; ``ctx.xp`` and ``ctx.kernels``
    are the array module and kernel table of the inputs' device.
    """

    def save_for_backward(self, *arrays: Any) -> None:
        self.saved_tensors = arrays

    @staticmethod
    def forward(ctx: Function, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("a Function subclass must define forward(ctx, *args)")

    @staticmethod
    def backward(ctx: Function, grad: Any) -> Any:
        raise NotImplementedError("a Function subclass must define backward(ctx, grad)")

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Tensor:
        tensors = [a for a in args if isinstance(a, Tensor)]
        if not tensors:
            raise TypeError(f"{cls.__name__}.apply needs at least one Tensor argument")
        device = tensors[0].device
        for t in tensors[1:]:
            if t.device is not device:
                raise ValueError(
                    f"{cls.__name__}: operands are on different devices ({device} and {t.device}); "
                    "move them to one device with .to(...) first"
                )
        ctx = cls()
        ctx.device, ctx.xp, ctx.kernels = device, device.xp, device.kernels
        ctx.needs_input_grad = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        ctx.saved_tensors = ()
        out = cls.forward(ctx, *(a.data if isinstance(a, Tensor) else a for a in args), **kwargs)
        requires_grad = _grad_enabled and any(ctx.needs_input_grad)
        result = Tensor(out, requires_grad=requires_grad, device=device)
        if requires_grad:
            # Edges: the node that made each input, the leaf tensor itself, or None (no gradient wanted).
            ctx.parents = tuple(_edge(a) for a in args)
            ctx.input_shapes = tuple(a.shape if isinstance(a, Tensor) else None for a in args)
            ctx.released = False
            result._node = ctx
        return result

    def __repr__(self) -> str:
        return f"<{type(self).__name__} node>"


def _edge(arg: Any) -> Function | Tensor | None:
    if not isinstance(arg, Tensor) or not arg.requires_grad:
        return None
    return arg._node if arg._node is not None else arg


def topological_order(root: Function) -> list[Function]:
    """Every node reachable from root, each after all the nodes it depends on (inputs first).

    Iterative depth-first search: a node is emitted once everything below it has been emitted.
    """
    # BEGIN SOLUTION (task 1)
    order: list[Function] = []
    visited: set[int] = set()
    stack: list[tuple[Function, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if children_done:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        for parent in node.parents:
            if isinstance(parent, Function) and id(parent) not in visited:
                stack.append((parent, False))
    return order
    # END SOLUTION


def backward(tensor: Tensor, grad: Any = None, retain_graph: bool = False) -> None:
    """Accumulate d(tensor)/d(leaf) * grad into ``.grad`` of every leaf that requires a gradient."""
    if not tensor.requires_grad:
        raise RuntimeError("backward() on a tensor that does not require grad (made under no_grad, or from "
                           "inputs with requires_grad=False)")
    xp = tensor.device.xp
    if grad is None:
        if tensor.data.size != 1:
            raise RuntimeError(f"backward() without a gradient needs a single-element tensor, got shape "
                               f"{tensor.shape}; pass grad= of that shape")
        grad = xp.ones_like(tensor.data)
    else:
        grad = grad.data if isinstance(grad, Tensor) else xp.asarray(grad, dtype=tensor.dtype)
        if grad.shape != tensor.shape:
            raise ValueError(f"backward(): grad has shape {grad.shape} but the tensor has shape {tensor.shape}")
    if tensor._node is None:
        _accumulate_leaf(tensor, grad)
        return

    # BEGIN SOLUTION (task 1)
    grads: dict[Function, Any] = {tensor._node: grad}
    for node in reversed(topological_order(tensor._node)):
        if node.released:
            raise RuntimeError("backward through a graph a second time, but its saved arrays were freed; "
                               "pass retain_graph=True to the first backward()")
        g = grads.pop(node, None)
        if g is None:
            continue
        input_grads = type(node).backward(node, g)
        if not isinstance(input_grads, tuple):
            input_grads = (input_grads,)
        if len(input_grads) != len(node.parents):
            raise RuntimeError(f"{type(node).__name__}.backward returned {len(input_grads)} gradients for "
                               f"{len(node.parents)} inputs")
        for parent, shape, pg in zip(node.parents, node.input_shapes, input_grads):
            if parent is None or pg is None:
                continue
            if pg.shape != shape:
                raise RuntimeError(f"{type(node).__name__}.backward returned a gradient of shape {pg.shape} "
                                   f"for an input of shape {shape}")
            if isinstance(parent, Tensor):
                _accumulate_leaf(parent, pg)
            elif parent in grads:
                grads[parent] = grads[parent] + pg  # never in place: pg may be shared with another input
            else:
                grads[parent] = pg
        if not retain_graph:
            node.saved_tensors = ()
            node.released = True
    # END SOLUTION


def _accumulate_leaf(leaf: Tensor, g: Any) -> None:
    if leaf.grad is None:
        leaf.grad = Tensor(g, device=leaf.device)
    else:
        leaf.grad = Tensor(leaf.grad.data + g, device=leaf.device)
