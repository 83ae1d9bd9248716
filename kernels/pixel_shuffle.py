"""Pixel shuffle and its inverse, NCHW: a pure rearrangement, no arithmetic.

pixel_shuffle(x, r):   x (N, C r^2, H, W) -> y (N, C, H r, W r)
    y[n, c, h r + i, w r + j] = x[n, c r^2 + i r + j, h, w]
pixel_unshuffle(y, r): the inverse, y (N, C, H r, W r) -> x (N, C r^2, H, W).

Because shuffle is a permutation of elements, its backward is the inverse permutation:
    backward of pixel_shuffle = pixel_unshuffle of the gradient, and the other way round.
So the gradients are exact (bitwise) copies.
"""

import numpy as np
from numba import njit, prange


@njit(cache=True, parallel=True)
def _shuffle(x, y, r):
    # BEGIN SOLUTION (task 4)
    N, Cr2, H, W = x.shape
    C = Cr2 // (r * r)
    for nc in prange(N * C):
        n, c = nc // C, nc % C
        for i in range(r):
            for j in range(r):
                src = c * r * r + i * r + j
                for h in range(H):
                    for w in range(W):
                        y[n, c, h * r + i, w * r + j] = x[n, src, h, w]
    # END SOLUTION


@njit(cache=True, parallel=True)
def _unshuffle(y, x, r):
    # BEGIN SOLUTION (task 4)
    N, Cr2, H, W = x.shape
    C = Cr2 // (r * r)
    for nc in prange(N * C):
        n, c = nc // C, nc % C
        for i in range(r):
            for j in range(r):
                dst = c * r * r + i * r + j
                for h in range(H):
                    for w in range(W):
                        x[n, dst, h, w] = y[n, c, h * r + i, w * r + j]
    # END SOLUTION


def pixel_shuffle(x: np.ndarray, r: int) -> np.ndarray:
    """(N, C r^2, H, W) -> (N, C, H r, W r)."""
    x = np.ascontiguousarray(x)
    N, Cr2, H, W = x.shape
    y = np.empty((N, Cr2 // (r * r), H * r, W * r), dtype=x.dtype)
    _shuffle(x, y, r)
    return y


def pixel_unshuffle(y: np.ndarray, r: int) -> np.ndarray:
    """(N, C, H r, W r) -> (N, C r^2, H, W)."""
    y = np.ascontiguousarray(y)
    N, C, Hr, Wr = y.shape
    x = np.empty((N, C * r * r, Hr // r, Wr // r), dtype=y.dtype)
    _unshuffle(y, x, r)
    return x
