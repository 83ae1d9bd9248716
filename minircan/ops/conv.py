"""conv2d as a Function: forward and the three gradients come from the device's conv kernels.

The algorithm (im2col or Winograd) is chosen at the forward by ``minircan.backends`` and kept for the
backward, so that a setting changed in between cannot mix the two within one convolution."""

from .. import backends
from ..autograd import Function


class Conv2d(Function):
    """y = conv2d(x, w, b); saves x and w (both needed by the gradients)."""

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding):
        ctx.stride, ctx.padding, ctx.has_bias = stride, padding, bias is not None
        ctx.save_for_backward(x, weight)
        k = ctx.kernels
        ctx.algorithm = backends.conv_algorithm_for(k, weight.shape, stride, x.shape)
        if ctx.algorithm == "winograd":
            ctx.tile = backends.winograd_tile
            return k.conv2d_winograd_forward(x, weight, bias, padding, ctx.tile)
        return k.conv2d_forward(x, weight, bias, stride, padding)

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        k = ctx.kernels
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        need_b = need_b and ctx.has_bias
        dx = dw = db = None
        if ctx.algorithm == "winograd":
            if need_x:
                dx = k.conv2d_winograd_backward_input(g, w, x.shape, ctx.padding, ctx.tile)
            if need_w:
                dw, db = k.conv2d_winograd_backward_params(g, x, w.shape, ctx.padding, need_b, ctx.tile)
        else:
            if need_x:
                dx = k.conv2d_backward_input(g, w, x.shape, ctx.stride, ctx.padding)
            if need_w:
                dw, db = k.conv2d_backward_params(g, x, w.shape, ctx.stride, ctx.padding, need_b)
        if need_b and not need_w:
            db = k.conv2d_backward_bias(g)
        return dx, dw, db, None, None
