"""ReLU, elementwise, any shape.

Forward:  y = max(x, 0)
Backward: dL/dx = g * [y > 0]   (y the output; y > 0 exactly where x > 0; the gradient at 0 is 0, as PyTorch)

NaN passes through (relu(NaN) = NaN, as in PyTorch), so that a diverging run shows up in its loss instead of
being silently zeroed: hence the test is "x < 0", not "x > 0".
"""

import numpy as np
from numba import njit, prange


@njit(cache=True, parallel=True)
def _forward(x, y):
    # BEGIN SOLUTION (task 4)
    zero = np.float32(0)  # not a Python 0, which Numba would make float64, and convert every element
    for i in prange(x.size):
        y[i] = zero if x[i] < zero else x[i]
    # END SOLUTION


@njit(cache=True, parallel=True)
def _backward(g, y, dx):
    # BEGIN SOLUTION (task 4)
    zero = np.float32(0)
    for i in prange(y.size):
        dx[i] = g[i] if y[i] > zero else zero
    # END SOLUTION


def forward(x: np.ndarray) -> np.ndarray:
    """y = max(x, 0), same shape and dtype as x."""
    x = np.ascontiguousarray(x)
    y = np.empty_like(x)
    _forward(x.reshape(-1), y.reshape(-1))
    return y


def backward(g: np.ndarray, y: np.ndarray) -> np.ndarray:
    """dL/dx = g where the forward output y > 0, else 0; g and y of the same shape."""
    g = np.ascontiguousarray(g)
    y = np.ascontiguousarray(y)
    dx = np.empty_like(y)
    _backward(g.reshape(-1), y.reshape(-1), dx.reshape(-1))
    return dx
