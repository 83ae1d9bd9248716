"""Global average pooling, (N, C, H, W) -> (N, C, 1, 1), as a Function. Saves only the input shape."""

from ..autograd import Function


class GlobalAvgPool2d(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.shape = x.shape
        return ctx.kernels.avg_pool_forward(x)

    @staticmethod
    def backward(ctx, g):
        return ctx.kernels.avg_pool_backward(g, ctx.shape)
