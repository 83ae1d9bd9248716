"""conv2d as a Function: forward and the three gradients come from the device's conv kernels."""

from ..autograd import Function


class Conv2d(Function):
    """y = conv2d(x, w, b); saves x and w (both needed by the gradients)."""

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding):
        ctx.stride, ctx.padding, ctx.has_bias = stride, padding, bias is not None
        ctx.save_for_backward(x, weight)
        return ctx.kernels.conv2d_forward(x, weight, bias, stride, padding)

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        k = ctx.kernels
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        need_b = need_b and ctx.has_bias
        dx = k.conv2d_backward_input(g, w, x.shape, ctx.stride, ctx.padding) if need_x else None
        dw = db = None
        if need_w:
            dw, db = k.conv2d_backward_params(g, x, w.shape, ctx.stride, ctx.padding, need_b)
        elif need_b:
            db = k.conv2d_backward_bias(g)
        return dx, dw, db, None, None
