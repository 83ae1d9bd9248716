"""Losses as single Functions (one node instead of a chain of arithmetic).

l1:  L = reduce(|x - t|),       dL/dx = sign(x - t) * g   (sign(0) = 0, as PyTorch)
mse: L = reduce((x - t)^2),     dL/dx = 2 (x - t) * g
with reduce = mean (g divided by the element count), sum, or none; dL/dt = -dL/dx.
"""

from ..autograd import Function


def _reduce(xp, values, reduction):
    if reduction == "mean":
        return xp.asarray(values.mean())
    if reduction == "sum":
        return xp.asarray(values.sum())
    return values


def _scale(g, size, reduction):
    return g / size if reduction == "mean" else g


class L1Loss(Function):
    @staticmethod
    def forward(ctx, x, t, reduction="mean"):
        d = x - t
        ctx.save_for_backward(ctx.xp.sign(d))
        ctx.reduction = reduction
        return _reduce(ctx.xp, ctx.xp.abs(d), reduction)

    @staticmethod
    def backward(ctx, g):
        (s,) = ctx.saved_tensors
        dx = s * _scale(g, s.size, ctx.reduction)
        return dx, (-dx if ctx.needs_input_grad[1] else None)


class MSELoss(Function):
    @staticmethod
    def forward(ctx, x, t, reduction="mean"):
        d = x - t
        ctx.save_for_backward(d)
        ctx.reduction = reduction
        return _reduce(ctx.xp, d * d, reduction)

    @staticmethod
    def backward(ctx, g):
        (d,) = ctx.saved_tensors
        dx = 2 * d * _scale(g, d.size, ctx.reduction)
        return dx, (-dx if ctx.needs_input_grad[1] else None)
