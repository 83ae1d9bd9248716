"""Pixel shuffle and unshuffle as Functions: each one's backward is the other (a permutation's inverse)."""

from ..autograd import Function


class PixelShuffle(Function):
    @staticmethod
    def forward(ctx, x, r):
        ctx.r = r
        return ctx.kernels.pixel_shuffle(x, r)

    @staticmethod
    def backward(ctx, g):
        return ctx.kernels.pixel_unshuffle(g, ctx.r), None


class PixelUnshuffle(Function):
    @staticmethod
    def forward(ctx, x, r):
        ctx.r = r
        return ctx.kernels.pixel_unshuffle(x, r)

    @staticmethod
    def backward(ctx, g):
        return ctx.kernels.pixel_shuffle(g, ctx.r), None
