"""The CPU's kernel table: the Numba kernels of this folder under the names of ``KernelTable`` (table.py).

Each method hands its arguments to the op file that does the work (conv2d_threads.py, which runs conv2d.py's
kernels on the batch in jobs; winograd.py, relu.py, ...), so the op files stay plain functions a notebook can
call, and this class is only the wiring.
"""

from __future__ import annotations

from . import avg_pool, conv2d, conv2d_threads, pixel_shuffle, relu, sigmoid, winograd
from .table import Array, WinogradKernelTable


class NumbaKernels(WinogradKernelTable):
    """The Numba kernels (NumPy arrays in and out), Winograd included. Shapes: see table.py."""

    def conv2d_forward(self, x: Array, w: Array, b: Array | None, stride: tuple, padding: tuple) -> Array:
        return conv2d_threads.forward(x, w, b, stride, padding)

    def conv2d_backward_input(self, g: Array, w: Array, x_shape: tuple, stride: tuple, padding: tuple) -> Array:
        return conv2d_threads.backward_input(g, w, x_shape, stride, padding)

    def conv2d_backward_params(self, g: Array, x: Array, w_shape: tuple, stride: tuple, padding: tuple,
                               bias: bool = True) -> tuple:
        return conv2d_threads.backward_params(g, x, w_shape, stride, padding, bias)

    def conv2d_backward_bias(self, g: Array) -> Array:
        return conv2d.backward_bias(g)

    def relu_forward(self, x: Array) -> Array:
        return relu.forward(x)

    def relu_backward(self, g: Array, y: Array) -> Array:
        return relu.backward(g, y)

    def sigmoid_forward(self, x: Array) -> Array:
        return sigmoid.forward(x)

    def sigmoid_backward(self, g: Array, y: Array) -> Array:
        return sigmoid.backward(g, y)

    def avg_pool_forward(self, x: Array) -> Array:
        return avg_pool.forward(x)

    def avg_pool_backward(self, g: Array, x_shape: tuple) -> Array:
        return avg_pool.backward(g, x_shape)

    def pixel_shuffle(self, x: Array, r: int) -> Array:
        return pixel_shuffle.pixel_shuffle(x, r)

    def pixel_unshuffle(self, y: Array, r: int) -> Array:
        return pixel_shuffle.pixel_unshuffle(y, r)

    def conv2d_winograd_forward(self, x: Array, w: Array, b: Array | None, padding: tuple,
                                m: int = winograd.DEFAULT_TILE) -> Array:
        return winograd.forward(x, w, b, padding, m)

    def conv2d_winograd_backward_input(self, g: Array, w: Array, x_shape: tuple, padding: tuple,
                                       m: int = winograd.DEFAULT_TILE) -> Array:
        return winograd.backward_input(g, w, x_shape, padding, m)

    def conv2d_winograd_backward_params(self, g: Array, x: Array, w_shape: tuple, padding: tuple, bias: bool = True,
                                        m: int = winograd.DEFAULT_TILE) -> tuple:
        return winograd.backward_params(g, x, w_shape, padding, bias, m)
