"""Elementwise arithmetic and reductions with NumPy broadcasting (array-module operations, no kernels).

With broadcasting, an operand of shape (N, C, 1, 1) used against (N, C, H, W) contributes to every pixel,
so its gradient is the upstream gradient summed over the broadcast axes: ``unbroadcast`` does that.
"""

from __future__ import annotations

from ..autograd import Function


def unbroadcast(grad, shape: tuple):
    """Sum grad over the axes that broadcasting added or stretched, so that it gets ``shape`` back."""
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    stretched = tuple(i for i, s in enumerate(shape) if s == 1 and grad.shape[i] != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)
    return grad


def _check_dtypes(name: str, a, b) -> None:
    if a.dtype != b.dtype:
        raise ValueError(f"{name}: operands have different dtypes, {a.dtype} {tuple(a.shape)} and {b.dtype} "
                         f"{tuple(b.shape)}; convert one, e.g. minircan.tensor(x.numpy().astype('float32'))")


def _broadcast_shape(name: str, xp, a, b) -> None:
    try:
        xp.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ValueError(f"{name}: shapes {tuple(a.shape)} and {tuple(b.shape)} do not broadcast") from None


class _Binary(Function):
    @classmethod
    def _prepare(cls, ctx, a, b):
        _check_dtypes(cls.__name__, a, b)
        _broadcast_shape(cls.__name__, ctx.xp, a, b)
        ctx.shapes = (a.shape, b.shape)


class Add(_Binary):
    @staticmethod
    def forward(ctx, a, b):
        Add._prepare(ctx, a, b)
        return a + b

    @staticmethod
    def backward(ctx, g):
        sa, sb = ctx.shapes
        return unbroadcast(g, sa), unbroadcast(g, sb)


class Sub(_Binary):
    @staticmethod
    def forward(ctx, a, b):
        Sub._prepare(ctx, a, b)
        return a - b

    @staticmethod
    def backward(ctx, g):
        sa, sb = ctx.shapes
        return unbroadcast(g, sa), unbroadcast(-g, sb)


class Mul(_Binary):
    @staticmethod
    def forward(ctx, a, b):
        Mul._prepare(ctx, a, b)
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        da = unbroadcast(g * b, a.shape) if ctx.needs_input_grad[0] else None
        db = unbroadcast(g * a, b.shape) if ctx.needs_input_grad[1] else None
        return da, db


class Div(_Binary):
    @staticmethod
    def forward(ctx, a, b):
        Div._prepare(ctx, a, b)
        ctx.save_for_backward(a, b)
        return a / b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        da = unbroadcast(g / b, a.shape) if ctx.needs_input_grad[0] else None
        db = unbroadcast(-g * a / (b * b), b.shape) if ctx.needs_input_grad[1] else None
        return da, db


class Neg(Function):
    @staticmethod
    def forward(ctx, a):
        return -a

    @staticmethod
    def backward(ctx, g):
        return -g


class Pow(Function):
    """a ** p for a number p: d/da = p a^(p-1)."""

    @staticmethod
    def forward(ctx, a, p):
        ctx.save_for_backward(a)
        ctx.p = p
        return a**p

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g * ctx.p * a ** (ctx.p - 1), None


class Abs(Function):
    """|a|: d/da = sign(a), 0 at 0 (as PyTorch)."""

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return ctx.xp.abs(a)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g * ctx.xp.sign(a)


def _expand_back(xp, g, shape, axis, keepdims):
    """Undo a reduction: put the reduced axes back (size 1) and broadcast to the input shape."""
    if axis is not None and not keepdims:
        axes = (axis,) if isinstance(axis, int) else tuple(axis)
        g = xp.expand_dims(g, tuple(ax % len(shape) for ax in axes))
    return xp.broadcast_to(g, shape).copy()


class Sum(Function):
    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False):
        ctx.shape, ctx.axis, ctx.keepdims = a.shape, axis, keepdims
        return ctx.xp.asarray(a.sum(axis=axis, keepdims=keepdims))

    @staticmethod
    def backward(ctx, g):
        return _expand_back(ctx.xp, g, ctx.shape, ctx.axis, ctx.keepdims)


class Mean(Function):
    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False):
        ctx.shape, ctx.axis, ctx.keepdims = a.shape, axis, keepdims
        out = ctx.xp.asarray(a.mean(axis=axis, keepdims=keepdims))
        ctx.count = a.size // max(out.size, 1)
        return out

    @staticmethod
    def backward(ctx, g):
        return _expand_back(ctx.xp, g / ctx.count, ctx.shape, ctx.axis, ctx.keepdims)


class Reshape(Function):
    @staticmethod
    def forward(ctx, a, shape):
        ctx.shape = a.shape
        try:
            return a.reshape(shape)
        except ValueError:
            raise ValueError(f"reshape: cannot view shape {tuple(a.shape)} ({a.size} elements) as {shape}") from None

    @staticmethod
    def backward(ctx, g):
        return g.reshape(ctx.shape)
