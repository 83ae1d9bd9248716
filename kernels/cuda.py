"""The thin Python layer over the CUDA kernels: shapes in, launch configuration computed, kernel launched.

``CudaKernels(runtime)`` implements the kernel table of table.py (``relu_forward(x)``,
``conv2d_forward(x, w, b, stride, padding)``, ...), as the Numba kernels' NumbaKernels does, and computes
with the ``.cu`` files of this folder.
The runtime decides where they run:

- ``CupyRuntime`` (kernels/cupy_runtime.py): on a GPU, compiled by NVRTC, arrays are CuPy arrays;
- ``EmulatorRuntime`` (kernels/emulator.py): on the CPU, compiled by the host C++ compiler, arrays are
  NumPy arrays.

Both get the same grid and block sizes from the code below, so what the emulator checks is what the GPU
runs. Every kernel exists for float32 and float64 (``name_f32``, ``name_f64``); the dtype of the first
array picks one. Shapes travel as ``int`` (``np.int32``), flat sizes as ``long long`` (``np.int64``).
"""

from __future__ import annotations

import numpy as np

from .conv2d import output_size
from .table import KernelTable

THREADS = 256           # threads per block of the one-thread-per-element kernels
GEMM_TILE = 64          # the output tile of a block of the implicit-GEMM conv kernels (conv2d.cu TILE_M/N)
GEMM_TILE_K = 16        # the reduction step of those kernels (conv2d.cu TILE_K)
SPLIT_TARGET_BLOCKS = 264  # enough blocks to fill a large GPU twice over (an H100/H200 has 132 SMs)
SPLIT_MIN_TILES = 8     # never split the weight gradient's reduction into slices shorter than this

_SUFFIX = {np.dtype(np.float32): "f32", np.dtype(np.float64): "f64"}
_INT_MAX = 2**31 - 1


def blocks_for(n: int, threads: int = THREADS) -> int:
    """Blocks of ``threads`` needed to give each of n elements its own thread."""
    return (n + threads - 1) // threads


def weight_grad_splits(k: int, ckk: int, depth: int) -> int:
    """Over how many blocks (gridDim.z) the weight gradient splits its reduction of ``depth`` = N Ho Wo terms.

    Its output is small (K x C kh kw: 64 x 576 is only 9 tiles of 64 x 64) and its reduction long (36,864
    terms for a batch of 16 48x48 patches), so one block per output tile would leave a GPU idle; each of the
    slices sums a part, and ``sum_parts`` adds the parts in order (deterministic, no atomics).
    """
    tiles = blocks_for(k, GEMM_TILE) * blocks_for(ckk, GEMM_TILE)
    steps = blocks_for(depth, GEMM_TILE_K)
    return max(1, min(blocks_for(SPLIT_TARGET_BLOCKS, tiles), steps // SPLIT_MIN_TILES))


class CudaKernels(KernelTable):
    """The CUDA kernels, launched through ``runtime`` (a CupyRuntime or an EmulatorRuntime): a Device's kernel
    table (table.py; no Winograd: ``has_winograd`` is False). Beside the table's conv kernels (implicit GEMM,
    the fast ones), the ``*_naive`` ones (one thread per output element) are the teaching versions and the
    fast ones' test oracle, and ``conv2d_backward_weight`` is the weight gradient alone.
    """

    def __init__(self, runtime):
        self.runtime = runtime
        self.xp = runtime.xp

    # ----- plumbing -----------------------------------------------------------------------------------
    def _launch(self, source: str, name: str, dtype, grid, block, *args) -> None:
        dtype = np.dtype(dtype)
        if dtype not in _SUFFIX:
            raise TypeError(f"{name}: the CUDA kernels take float32 or float64 arrays, not {dtype}")
        self.runtime.launch(source, f"{name}_{_SUFFIX[dtype]}", grid, block, args)

    def _contiguous(self, *arrays):
        return [self.xp.ascontiguousarray(a) for a in arrays]

    def _elementwise(self, source: str, name: str, out_like, *arrays):
        out = self.runtime.empty(out_like.shape, out_like.dtype)
        n = out.size
        if n:
            self._launch(source, name, out.dtype, (blocks_for(n),), (THREADS,), *arrays, out, np.int64(n))
        return out

    # ----- ReLU, sigmoid --------------------------------------------------------------------------------
    def relu_forward(self, x):
        """y = max(x, 0); NaN passes through."""
        (x,) = self._contiguous(x)
        return self._elementwise("relu.cu", "relu_forward", x, x)

    def relu_backward(self, g, y):
        """dL/dx = g where y > 0, else 0."""
        g, y = self._contiguous(g, y)
        return self._elementwise("relu.cu", "relu_backward", y, g, y)

    def sigmoid_forward(self, x):
        """y = 1 / (1 + exp(-x)), stable for any x."""
        (x,) = self._contiguous(x)
        return self._elementwise("sigmoid.cu", "sigmoid_forward", x, x)

    def sigmoid_backward(self, g, y):
        """dL/dx = g y (1 - y)."""
        g, y = self._contiguous(g, y)
        return self._elementwise("sigmoid.cu", "sigmoid_backward", y, g, y)

    # ----- global average pooling ---------------------------------------------------------------------
    def avg_pool_forward(self, x):
        """x (N, C, H, W) -> the per-plane mean (N, C, 1, 1); one block per plane."""
        (x,) = self._contiguous(x)
        N, C, H, W = x.shape
        y = self.runtime.empty((N, C, 1, 1), x.dtype)
        if N * C:
            self._launch("avg_pool.cu", "avg_pool_forward", x.dtype, (N * C,), (THREADS,), x, y,
                         np.int64(N * C), np.int64(H * W))
        return y

    def avg_pool_backward(self, g, x_shape: tuple):
        """g (N, C, 1, 1) -> dL/dx (N, C, H, W), each pixel g / (H W)."""
        (g,) = self._contiguous(g)
        N, C, H, W = x_shape
        dx = self.runtime.empty((N, C, H, W), g.dtype)
        if dx.size:
            self._launch("avg_pool.cu", "avg_pool_backward", g.dtype, (blocks_for(dx.size),), (THREADS,), g, dx,
                         np.int64(N * C), np.int64(H * W))
        return dx

    # ----- pixel shuffle --------------------------------------------------------------------------------
    def pixel_shuffle(self, x, r: int):
        """(N, C r^2, H, W) -> (N, C, H r, W r)."""
        (x,) = self._contiguous(x)
        N, Crr, H, W = x.shape
        C = Crr // (r * r)
        y = self.runtime.empty((N, C, H * r, W * r), x.dtype)
        if y.size:
            self._launch("pixel_shuffle.cu", "pixel_shuffle", x.dtype, (blocks_for(y.size),), (THREADS,), x, y,
                         *_ints(N, C, H, W, r))
        return y

    def pixel_unshuffle(self, y, r: int):
        """(N, C, H r, W r) -> (N, C r^2, H, W)."""
        (y,) = self._contiguous(y)
        N, C, Hr, Wr = y.shape
        H, W = Hr // r, Wr // r
        x = self.runtime.empty((N, C * r * r, H, W), y.dtype)
        if x.size:
            self._launch("pixel_shuffle.cu", "pixel_unshuffle", y.dtype, (blocks_for(x.size),), (THREADS,), y, x,
                         *_ints(N, C, H, W, r))
        return x

    # ----- conv2d ---------------------------------------------------------------------------------------
    def _conv_args(self, x_shape: tuple, w_shape: tuple, stride: tuple, padding: tuple) -> tuple:
        N, C, H, W = x_shape
        K, _, kh, kw = w_shape
        for what, size in (("N C H W", N * C * H * W), ("K C kh kw", K * C * kh * kw)):
            if size > _INT_MAX:
                raise ValueError(f"conv2d on the GPU indexes {what} with 32-bit ints; {size} elements is too many: "
                                 "split the batch or tile the image")
        return _ints(N, C, H, W, K, kh, kw, stride[0], stride[1], padding[0], padding[1])

    def _bias(self, b, w):
        # The kernels always add b[k]: no bias is a bias of zeros (K values, nothing to speak of).
        return self.xp.zeros(w.shape[0], dtype=w.dtype) if b is None else self.xp.ascontiguousarray(b, dtype=w.dtype)

    def conv2d_forward(self, x, w, b, stride: tuple, padding: tuple):
        """y = conv2d(x, w, b): x (N, C, H, W), w (K, C, kh, kw), b (K,) or None -> y (N, K, Ho, Wo); the
        implicit-GEMM kernel, a 64 x 64 tile of y per block."""
        return self._conv2d_forward(x, w, b, stride, padding, naive=False)

    def conv2d_forward_naive(self, x, w, b, stride: tuple, padding: tuple):
        """conv2d_forward with one thread per output element."""
        return self._conv2d_forward(x, w, b, stride, padding, naive=True)

    def _conv2d_forward(self, x, w, b, stride: tuple, padding: tuple, naive: bool):
        x, w = self._contiguous(x, w)
        N, C, H, W = x.shape
        K, _, kh, kw = w.shape
        Ho, Wo = output_size(H, W, kh, kw, stride, padding)
        y = self.runtime.empty((N, K, Ho, Wo), x.dtype)
        if y.size:
            args = (x, w, self._bias(b, w), y, *self._conv_args(x.shape, w.shape, stride, padding))
            if naive:
                self._launch("conv2d.cu", "conv2d_forward_naive", x.dtype, (blocks_for(y.size),), (THREADS,), *args)
            else:
                grid = (blocks_for(N * Ho * Wo, GEMM_TILE), blocks_for(K, GEMM_TILE))
                self._launch("conv2d.cu", "conv2d_forward_fast", x.dtype, grid, (THREADS,), *args)
        return y

    def conv2d_backward_input(self, g, w, x_shape: tuple, stride: tuple, padding: tuple):
        """dL/dx (N, C, H, W) from g = dL/dy (N, K, Ho, Wo) and w (K, C, kh, kw): a gather (each thread sums
        input pixels, no atomics), by implicit GEMM."""
        return self._conv2d_backward_input(g, w, x_shape, stride, padding, naive=False)

    def conv2d_backward_input_naive(self, g, w, x_shape: tuple, stride: tuple, padding: tuple):
        """conv2d_backward_input with one thread per input pixel."""
        return self._conv2d_backward_input(g, w, x_shape, stride, padding, naive=True)

    def _conv2d_backward_input(self, g, w, x_shape: tuple, stride: tuple, padding: tuple, naive: bool):
        g, w = self._contiguous(g, w)
        N, C, H, W = x_shape
        dx = self.runtime.empty((N, C, H, W), g.dtype)
        if dx.size:
            args = (g, w, dx, *self._conv_args(x_shape, w.shape, stride, padding))
            if naive:
                self._launch("conv2d.cu", "conv2d_backward_input_naive", g.dtype, (blocks_for(dx.size),),
                             (THREADS,), *args)
            else:
                grid = (blocks_for(N * H * W, GEMM_TILE), blocks_for(C, GEMM_TILE))
                self._launch("conv2d.cu", "conv2d_backward_input_fast", g.dtype, grid, (THREADS,), *args)
        return dx

    def conv2d_backward_weight(self, g, x, w_shape: tuple, stride: tuple, padding: tuple):
        """dL/dw (K, C, kh, kw) from g = dL/dy (N, K, Ho, Wo) and x (N, C, H, W) by implicit GEMM; the long
        reduction split over blocks, the parts summed in order."""
        g, x = self._contiguous(g, x)
        N, C, H, W = x.shape
        K, _, kh, kw = w_shape
        Ho, Wo = g.shape[2], g.shape[3]
        dw = self.runtime.empty((K, C, kh, kw), x.dtype)
        args = self._conv_args(x.shape, w_shape, stride, padding)
        splits = weight_grad_splits(K, C * kh * kw, N * Ho * Wo)
        parts = dw if splits == 1 else self.runtime.empty((splits, *dw.shape), x.dtype)
        grid = (blocks_for(C * kh * kw, GEMM_TILE), blocks_for(K, GEMM_TILE), splits)
        self._launch("conv2d.cu", "conv2d_backward_weight_fast", x.dtype, grid, (THREADS,), g, x, parts, *args)
        if splits > 1:
            self._launch("conv2d.cu", "sum_parts", x.dtype, (blocks_for(dw.size),), (THREADS,), parts, dw,
                         np.int32(splits), np.int64(dw.size))
        return dw

    def conv2d_backward_weight_naive(self, g, x, w_shape: tuple, stride: tuple, padding: tuple):
        """conv2d_backward_weight with one thread per weight element."""
        g, x = self._contiguous(g, x)
        dw = self.runtime.empty(tuple(w_shape), x.dtype)
        self._launch("conv2d.cu", "conv2d_backward_weight_naive", x.dtype, (blocks_for(dw.size),), (THREADS,),
                     g, x, dw, *self._conv_args(x.shape, w_shape, stride, padding))
        return dw

    def conv2d_backward_bias(self, g):
        """dL/db (K,) = g summed over batch and space; one block per output channel."""
        (g,) = self._contiguous(g)
        N, K, Ho, Wo = g.shape
        db = self.runtime.empty((K,), g.dtype)
        if K:
            self._launch("conv2d.cu", "conv2d_backward_bias", g.dtype, (K,), (THREADS,), g, db, *_ints(N, K),
                         np.int64(Ho * Wo))
        return db

    def conv2d_backward_params(self, g, x, w_shape: tuple, stride: tuple, padding: tuple, bias: bool = True):
        """(dL/dw, dL/db or None): conv2d_backward_weight and conv2d_backward_bias."""
        dw = self.conv2d_backward_weight(g, x, w_shape, stride, padding)
        return dw, (self.conv2d_backward_bias(g) if bias else None)


def _ints(*values: int) -> tuple:
    return tuple(np.int32(v) for v in values)
