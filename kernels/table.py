"""The kernel table: the one list of the kernels a Device computes with, their signatures and shapes.

A ``Device`` (minircan/device.py) holds one object implementing ``KernelTable``, and the ops call
``ctx.kernels.NAME(...)`` without knowing which one it is:

- ``NumbaKernels`` (kernels/cpu.py): the CPU's Numba kernels, NumPy arrays; it also has the Winograd
  convolution (``WinogradKernelTable``);
- ``CudaKernels`` (kernels/cuda.py): the CUDA C kernels, CuPy arrays on a GPU (NumPy ones on the emulator).

A new backend is a new class implementing these methods with these parameter names
(tests/test_kernel_table.py checks both tables against this file). Every method is an entry that can be read
and replaced by name on an instance (``setattr(table, "relu_forward", wrapped)``, as a profiler does), and
``kernel_names(table)`` lists the names. ``Array`` is the device's array type (``numpy.ndarray``,
``cupy.ndarray``); every kernel returns new arrays and never writes its inputs.

Shapes: x (N, C, H, W), w (K, C, kh, kw), b (K,), g = dL/dy of the output's shape; stride (sh, sw) and
padding (ph, pw) as in torch.nn.Conv2d.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar, TypeAlias

Array: TypeAlias = Any  # numpy.ndarray on the CPU, cupy.ndarray on a GPU: the kernels never mix them


class KernelTable(ABC):
    """The kernels every device has. ``has_winograd`` says whether it also has the Winograd ones
    (``WinogradKernelTable``); ``minircan.backends.conv_algorithm_for`` reads it."""

    has_winograd: ClassVar[bool] = False

    # ----- conv2d (im2col + BLAS on the CPU, implicit GEMM on a GPU) ------------------------------------
    @abstractmethod
    def conv2d_forward(self, x: Array, w: Array, b: Array | None, stride: tuple, padding: tuple) -> Array:
        """y = conv2d(x, w, b): x (N, C, H, W), w (K, C, kh, kw), b (K,) or None -> y (N, K, Ho, Wo),
        Ho = (H + 2 ph - kh) // sh + 1, Wo likewise."""

    @abstractmethod
    def conv2d_backward_input(self, g: Array, w: Array, x_shape: tuple, stride: tuple, padding: tuple) -> Array:
        """dL/dx (N, C, H, W) = x_shape, from g = dL/dy (N, K, Ho, Wo) and w (K, C, kh, kw)."""

    @abstractmethod
    def conv2d_backward_params(self, g: Array, x: Array, w_shape: tuple, stride: tuple, padding: tuple,
                               bias: bool = True) -> tuple:
        """(dL/dw (K, C, kh, kw) = w_shape, dL/db (K,) or None when not bias) from g = dL/dy (N, K, Ho, Wo)
        and x (N, C, H, W): dw[k, c, i, j] = sum_{n, ho, wo} g[n, k, ho, wo] xpad[n, c, ho sh + i, wo sw + j]."""

    @abstractmethod
    def conv2d_backward_bias(self, g: Array) -> Array:
        """dL/db (K,) = g (N, K, Ho, Wo) summed over batch and space (when the weight needs no gradient)."""

    # ----- activations ----------------------------------------------------------------------------------
    @abstractmethod
    def relu_forward(self, x: Array) -> Array:
        """y = max(x, 0), any shape; NaN passes through."""

    @abstractmethod
    def relu_backward(self, g: Array, y: Array) -> Array:
        """dL/dx = g where y > 0, else 0; g and y of the forward's shape (y its output)."""

    @abstractmethod
    def sigmoid_forward(self, x: Array) -> Array:
        """y = 1 / (1 + exp(-x)), any shape, stable for any x."""

    @abstractmethod
    def sigmoid_backward(self, g: Array, y: Array) -> Array:
        """dL/dx = g y (1 - y); y the forward's output."""

    # ----- global average pooling -----------------------------------------------------------------------
    @abstractmethod
    def avg_pool_forward(self, x: Array) -> Array:
        """x (N, C, H, W) -> the mean of each plane, (N, C, 1, 1)."""

    @abstractmethod
    def avg_pool_backward(self, g: Array, x_shape: tuple) -> Array:
        """g (N, C, 1, 1) -> dL/dx (N, C, H, W) = x_shape, each pixel g / (H W)."""

    # ----- pixel shuffle --------------------------------------------------------------------------------
    @abstractmethod
    def pixel_shuffle(self, x: Array, r: int) -> Array:
        """(N, C r^2, H, W) -> (N, C, H r, W r): y[n, c, h r + i, w r + j] = x[n, c r^2 + i r + j, h, w]."""

    @abstractmethod
    def pixel_unshuffle(self, y: Array, r: int) -> Array:
        """(N, C, H r, W r) -> (N, C r^2, H, W), the inverse of pixel_shuffle (and its backward)."""


class WinogradKernelTable(KernelTable):
    """A kernel table with the Winograd convolution too (kernels/winograd.py): 3x3 kernels at stride 1 only,
    any padding; m is the output tile, F(m x m, 3 x 3) with m = 2 or 4."""

    has_winograd: ClassVar[bool] = True

    @abstractmethod
    def conv2d_winograd_forward(self, x: Array, w: Array, b: Array | None, padding: tuple, m: int = 4) -> Array:
        """y = conv2d(x, w, b, stride 1, padding): x (N, C, H, W), w (K, C, 3, 3), b (K,) or None
        -> y (N, K, H + 2 ph - 2, W + 2 pw - 2)."""

    @abstractmethod
    def conv2d_winograd_backward_input(self, g: Array, w: Array, x_shape: tuple, padding: tuple,
                                       m: int = 4) -> Array:
        """dL/dx (N, C, H, W) = x_shape from g = dL/dy (N, K, Ho, Wo) and w (K, C, 3, 3)."""

    @abstractmethod
    def conv2d_winograd_backward_params(self, g: Array, x: Array, w_shape: tuple, padding: tuple,
                                        bias: bool = True, m: int = 4) -> tuple:
        """(dL/dw (K, C, 3, 3) = w_shape, dL/db (K,) or None when not bias) from g = dL/dy and x."""


def _abstract(cls: type) -> tuple[str, ...]:
    return tuple(name for name, value in vars(cls).items() if getattr(value, "__isabstractmethod__", False))


KERNELS: tuple[str, ...] = _abstract(KernelTable)
"""The names of the kernels every table has, in the order above."""
WINOGRAD_KERNELS: tuple[str, ...] = _abstract(WinogradKernelTable)
"""The names of the Winograd kernels, which a table has when its ``has_winograd`` is True."""


def kernel_names(table: KernelTable) -> tuple[str, ...]:
    """The names of the kernels ``table`` has: KERNELS, and WINOGRAD_KERNELS where it has them."""
    return KERNELS + (WINOGRAD_KERNELS if table.has_winograd else ())
