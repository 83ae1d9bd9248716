"""Stand-ins for the other tasks' code, so that each task is graded on its own.

A later task builds on earlier ones: task 5's modules run on task 2's conv and task 1's backward pass.
So that a mistake in task 2 does not also cost the points of task 5, each task's tests replace the code of
the tasks it builds on with these oracles (``install(monkeypatch, "1", "2", "4")``) and leave only the
task under test to the student's code. They are written for clarity, not speed, and differently from the
library's kernels (whole-array NumPy instead of Numba loops): reading them is fine, but they are not what
the tasks ask you to write.

What ``install`` replaces, per task:
    "1"  minircan.autograd.backward and no_grad / enable_grad (the _GradMode context manager)
    "2"  the CPU kernel table's conv2d_forward, and kernels.conv2d.im2col (task 3's gradients use it)
    "3"  the CPU kernel table's conv2d gradients
    "4"  the CPU kernel table's relu, sigmoid, avg_pool, pixel_shuffle and pixel_unshuffle
    "5"  ChannelAttention and RCAB in minircan.models.rcan (so RCAN builds and trains)
"""

from __future__ import annotations

from typing import Any

import numpy as np

import minircan
import minircan.autograd as autograd
import minircan.functional as F
from minircan import nn
from minircan.device import cpu
from minircan.models import rcan

# ----- task 1: the backward pass, by counting each node's consumers (Kahn's algorithm) -------------------


def backward(tensor: minircan.Tensor, grad: Any = None, retain_graph: bool = False) -> None:
    """d(tensor)/d(leaf) * grad accumulated into every leaf's .grad.

    A node is ready once every node that used its output has passed its gradient down; its gradient is
    then complete and its own backward runs.
    """
    if not tensor.requires_grad:
        raise RuntimeError("backward() on a tensor that does not require grad")
    if grad is None:
        grad = np.ones_like(tensor.data)
    elif isinstance(grad, minircan.Tensor):
        grad = grad.data
    if tensor.grad_fn is None:
        _add_to_leaf(tensor, np.asarray(grad, dtype=tensor.dtype))
        return
    consumers: dict[int, int] = {}
    seen, todo = {id(tensor.grad_fn)}, [tensor.grad_fn]
    while todo:
        node = todo.pop()
        for earlier in node.parents:  # count, for every node, how many nodes use its output
            if isinstance(earlier, autograd.Function):
                consumers[id(earlier)] = consumers.get(id(earlier), 0) + 1
                if id(earlier) not in seen:
                    seen.add(id(earlier))
                    todo.append(earlier)
    pending = {id(tensor.grad_fn): grad}
    ready = [tensor.grad_fn]
    while ready:
        node = ready.pop()
        g = pending.pop(id(node), None)  # None: no gradient reached this node; it only counts as done
        if g is not None and getattr(node, "released", False):
            raise RuntimeError("backward through a graph a second time; pass retain_graph=True the first time")
        parent_grads = (None,) * len(node.parents) if g is None else type(node).backward(node, g)
        if not isinstance(parent_grads, tuple):
            parent_grads = (parent_grads,)
        for parent, pg in zip(node.parents, parent_grads):
            if isinstance(parent, minircan.Tensor):
                if pg is not None:
                    _add_to_leaf(parent, pg)
            elif isinstance(parent, autograd.Function):
                if pg is not None:
                    pending[id(parent)] = pg if id(parent) not in pending else pending[id(parent)] + pg
                consumers[id(parent)] -= 1
                if consumers[id(parent)] == 0:
                    ready.append(parent)
        if g is not None and not retain_graph:
            node.saved_tensors, node.released = (), True  # free what the node saved, as the engine does


def _add_to_leaf(leaf: minircan.Tensor, g: np.ndarray) -> None:
    total = g if leaf.grad is None else leaf.grad.data + g
    leaf.grad = minircan.Tensor(total, device=leaf.device)


def _grad_mode_enter(self) -> None:
    self.saved_mode = autograd.is_grad_enabled()
    autograd._grad_enabled = self.enabled


def _grad_mode_exit(self, *exc) -> bool:
    autograd._grad_enabled = self.saved_mode
    return False


# ----- task 2 and 3: conv2d with NumPy's sliding windows and tensordot ------------------------------------


def _windows(x: np.ndarray, kh: int, kw: int, stride: tuple, padding: tuple) -> np.ndarray:
    """A read-only view (N, C, Ho, Wo, kh, kw) of zero-padded x: the receptive field of every output pixel."""
    (sh, sw), (ph, pw) = stride, padding
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    return np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]


def im2col(x, cols, kh, kw, sh, sw, ph, pw):
    """Rows (c, i, j) of cols (n, C kh kw [+ more], Ho Wo) = what tap (i, j) of channel c reads, per output pixel."""
    n, c = x.shape[:2]
    win = _windows(x, kh, kw, (sh, sw), (ph, pw))  # (n, C, Ho, Wo, kh, kw)
    cols[:, :c * kh * kw] = win.transpose(0, 1, 4, 5, 2, 3).reshape(n, c * kh * kw, -1)


def col2im(cols, dx, kh, kw, sh, sw, ph, pw):
    """dx (n, C, H, W) = every entry of cols (rows (c, i, j), columns (ho, wo)) added back where it was read."""
    n, c, h, w = dx.shape
    ho, wo = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    taps = cols[:, :c * kh * kw].reshape(n, c, kh, kw, ho, wo)
    dxp = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=dx.dtype)
    for ti in range(kh):
        for tj in range(kw):
            dxp[:, :, ti:ti + sh * (ho - 1) + 1:sh, tj:tj + sw * (wo - 1) + 1:sw] += taps[:, :, ti, tj]
    dx[...] = dxp[:, :, ph:ph + h, pw:pw + w]


def conv2d_forward(x, w, b, stride, padding):
    win = _windows(x, w.shape[2], w.shape[3], stride, padding)
    y = np.tensordot(win, w, axes=([1, 4, 5], [1, 2, 3])).transpose(0, 3, 1, 2)  # (N, Ho, Wo, K) -> NCHW
    if b is not None:
        y = y + np.asarray(b, dtype=x.dtype).reshape(1, -1, 1, 1)
    return np.ascontiguousarray(y, dtype=x.dtype)


def conv2d_backward_input(g, w, x_shape, stride, padding):
    (sh, sw), (ph, pw) = stride, padding
    n, c, h, wd = x_shape
    kh, kw = w.shape[2], w.shape[3]
    ho, wo = g.shape[2], g.shape[3]
    per_tap = np.tensordot(g, w, axes=([1], [0])).transpose(0, 3, 4, 5, 1, 2)  # (N, C, kh, kw, Ho, Wo)
    dxp = np.zeros((n, c, h + 2 * ph, wd + 2 * pw), dtype=g.dtype)
    for ti in range(kh):
        for tj in range(kw):
            dxp[:, :, ti:ti + sh * (ho - 1) + 1:sh, tj:tj + sw * (wo - 1) + 1:sw] += per_tap[:, :, ti, tj]
    return np.ascontiguousarray(dxp[:, :, ph:ph + h, pw:pw + wd])


def conv2d_backward_params(g, x, w_shape, stride, padding, bias=True):
    win = _windows(x, w_shape[2], w_shape[3], stride, padding)
    dw = np.tensordot(g, win, axes=([0, 2, 3], [0, 2, 3]))  # (K, C, kh, kw)
    return np.ascontiguousarray(dw, dtype=g.dtype), (conv2d_backward_bias(g) if bias else None)


def conv2d_backward_bias(g):
    return np.ascontiguousarray(g.sum(axis=(0, 2, 3)))


# ----- task 4: whole-array NumPy ----------------------------------------------------------------------


def relu_forward(x):
    return np.where(x < 0, np.zeros((), dtype=x.dtype), x)


def relu_backward(g, y):
    return np.where(y > 0, g, np.zeros((), dtype=g.dtype))


def sigmoid_forward(x):
    z = np.exp(-np.abs(x))  # never overflows
    return np.where(x >= 0, 1 / (1 + z), z / (1 + z)).astype(x.dtype)


def sigmoid_backward(g, y):
    return g * (y - y * y)


def avg_pool_forward(x):
    return x.mean(axis=(2, 3), keepdims=True, dtype=np.float64).astype(x.dtype)


def avg_pool_backward(g, x_shape):
    return np.ascontiguousarray(np.broadcast_to(g / (x_shape[2] * x_shape[3]), x_shape))


def pixel_shuffle(x, r):
    n, c, h, w = x.shape
    return np.ascontiguousarray(x.reshape(n, c // (r * r), r, r, h, w).transpose(0, 1, 4, 2, 5, 3)
                                .reshape(n, c // (r * r), h * r, w * r))


def pixel_unshuffle(y, r):
    n, c, h, w = y.shape
    return np.ascontiguousarray(y.reshape(n, c, h // r, r, w // r, r).transpose(0, 1, 3, 5, 2, 4)
                                .reshape(n, c * r * r, h // r, w // r))


# ----- task 5: the modules, flat ----------------------------------------------------------------------


class OracleChannelAttention(nn.Module):
    """x * sigmoid(expand(relu(squeeze(mean of x over space)))), with flat parameter names."""

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        self.squeeze = nn.Conv2d(channels, channels // reduction, kernel_size=1)
        self.expand = nn.Conv2d(channels // reduction, channels, kernel_size=1)

    def weights(self, x):
        return F.sigmoid(self.expand(F.relu(self.squeeze(F.adaptive_avg_pool2d(x, 1)))))

    def forward(self, x):
        return self.weights(x) * x


class OracleRCAB(nn.Module):
    """x + CA(conv_b(relu(conv_a(x)))), with flat parameter names."""

    def __init__(self, n_feats: int, reduction: int):
        super().__init__()
        self.conv_a = nn.Conv2d(n_feats, n_feats, kernel_size=3, padding=1)
        self.conv_b = nn.Conv2d(n_feats, n_feats, kernel_size=3, padding=1)
        self.attention = OracleChannelAttention(n_feats, reduction)

    def forward(self, x):
        return x + self.attention(self.conv_b(F.relu(self.conv_a(x))))


# ----- installing them ----------------------------------------------------------------------------------

_KERNELS = {
    "2": ("conv2d_forward",),
    "3": ("conv2d_backward_input", "conv2d_backward_params", "conv2d_backward_bias"),
    "4": ("relu_forward", "relu_backward", "sigmoid_forward", "sigmoid_backward", "avg_pool_forward",
          "avg_pool_backward", "pixel_shuffle", "pixel_unshuffle"),
}


def install(monkeypatch, *tasks: str) -> None:
    """Replace the named tasks' code with the oracles above for the duration of one test."""
    this = globals()
    for task in tasks:
        if task == "1":
            monkeypatch.setattr(autograd, "backward", backward)
            monkeypatch.setattr(autograd._GradMode, "__enter__", _grad_mode_enter)
            monkeypatch.setattr(autograd._GradMode, "__exit__", _grad_mode_exit)
        elif task in _KERNELS:
            for name in _KERNELS[task]:
                monkeypatch.setattr(cpu.kernels, name, this[name])
            if task == "2":
                monkeypatch.setattr(minircan.kernels.conv2d, "im2col", im2col)
        elif task == "5":
            monkeypatch.setattr(rcan, "ChannelAttention", OracleChannelAttention)
            monkeypatch.setattr(rcan, "RCAB", OracleRCAB)
        else:
            raise ValueError(f"no oracle for task {task!r}")
