"""2-D convolution (cross-correlation, as in PyTorch), NCHW, on the CPU with Numba.

Shapes: input x (N, C, H, W), weight w (K, C, kh, kw), bias b (K,), stride (sh, sw), zero padding
(ph, pw); output y (N, K, Ho, Wo) with Ho = (H + 2 ph - kh) // sh + 1, Wo likewise.

Forward:
    y[n, k, ho, wo] = b[k] + sum_{c, i, j} w[k, c, i, j] * xpad[n, c, ho*sh + i, wo*sw + j]

Backward, given g = dL/dy of y's shape:
    dL/dx[n, c, hi, wi] = sum over (k, i, j, ho, wo) with ho*sh + i - ph = hi and wo*sw + j - pw = wi
                          of w[k, c, i, j] * g[n, k, ho, wo]
    dL/dw[k, c, i, j]   = sum_{n, ho, wo} g[n, k, ho, wo] * xpad[n, c, ho*sh + i, wo*sw + j]
    dL/db[k]            = sum_{n, ho, wo} g[n, k, ho, wo]

The fast path lowers each image to a matrix product. ``im2col`` copies the receptive field of every
output pixel into a column: cols[(c, i, j), (ho, wo)] = xpad[c, ho*sh + i, wo*sw + j], a
(C*kh*kw, Ho*Wo) matrix. Then, with W the weight viewed as (K, C*kh*kw) and Y, G image n of y and g:
    Y = W @ cols                  (forward)
    dW += G @ cols^T              (weight gradient, summed over images; computed as its transpose)
    and the bias rides along: a row of ones appended to cols (with b appended to W) adds b in the forward
    and sums G into dL/db in the weight gradient's product.
    dcols = W^T @ G, dx = col2im(dcols)   (input gradient: col2im adds every column entry back to the
                                           input pixel it was copied from)
The products go to BLAS through NumPy; the loops (im2col, col2im) are Numba. Working a few images at a
time keeps the column buffer small (one image of C=64, 3x3, 48x48 fills 5.3 MB) so it stays in cache
between the copy and the product, and it is allocated once per call, not per image. im2col and col2im
release the GIL (``nogil``), so that conv2d_threads.py can run these kernels on a few images per thread.

Determinism: every parallel loop below is over (image, input channel) pairs and each iteration writes
only its own channel, so no two threads ever write the same element; sums run in a fixed order.

The ``*_naive`` functions are the slow, obvious seven nested loops: the reference the tests and the
notebook compare against.
"""

import numpy as np
from numba import njit, prange

# ---------------------------------------------------------------------------------------------------
# The lowering: im2col and its adjoint col2im, for one image.
# ---------------------------------------------------------------------------------------------------


@njit(cache=True, parallel=True, nogil=True)
def im2col(x, cols, kh, kw, sh, sw, ph, pw):
    """Copy the receptive fields of images x (n, C, H, W) into cols (n, C*kh*kw, Ho*Wo); padding reads as 0.

    cols[n, (c*kh + i)*kw + j, ho*Wo + wo] = xpad[n, c, ho*sh + i, wo*sw + j]: row r = (c*kh + i)*kw + j is
    tap (i, j) of channel c (the order of w[k].reshape(-1)), column ho*Wo + wo the output pixel.
    Only rows 0 .. C*kh*kw - 1 are written: cols may have further rows (the bias's row of ones)."""
    # BEGIN SOLUTION (task 2)
    n_img, C, H, W = x.shape
    Ho = (H + 2 * ph - kh) // sh + 1
    Wo = (W + 2 * pw - kw) // sw + 1
    for nc in prange(n_img * C):
        n, c = nc // C, nc % C
        for i in range(kh):
            for j in range(kw):
                r = (c * kh + i) * kw + j
                for ho in range(Ho):
                    hi = ho * sh + i - ph
                    base = ho * Wo
                    if hi < 0 or hi >= H:
                        for wo in range(Wo):
                            cols[n, r, base + wo] = 0
                    else:
                        for wo in range(Wo):
                            wi = wo * sw + j - pw
                            if 0 <= wi < W:
                                cols[n, r, base + wo] = x[n, c, hi, wi]
                            else:
                                cols[n, r, base + wo] = 0
    # END SOLUTION


@njit(cache=True, parallel=True, nogil=True)
def col2im(cols, dx, kh, kw, sh, sw, ph, pw):
    """Adjoint of im2col: dx (n, C, H, W) = the sum of every cols entry at the pixel it was copied from.

    Each thread owns whole channels of dx, so the accumulation has no races and a fixed order.
    """
    # BEGIN SOLUTION (task 3)
    n_img, C, H, W = dx.shape
    Ho = (H + 2 * ph - kh) // sh + 1
    Wo = (W + 2 * pw - kw) // sw + 1
    for nc in prange(n_img * C):
        n, c = nc // C, nc % C
        for hi in range(H):
            for wi in range(W):
                dx[n, c, hi, wi] = 0
        for i in range(kh):
            for j in range(kw):
                r = (c * kh + i) * kw + j
                for ho in range(Ho):
                    hi = ho * sh + i - ph
                    if hi < 0 or hi >= H:
                        continue
                    base = ho * Wo
                    for wo in range(Wo):
                        wi = wo * sw + j - pw
                        if 0 <= wi < W:
                            dx[n, c, hi, wi] += cols[n, r, base + wo]
    # END SOLUTION


def output_size(h: int, w: int, kh: int, kw: int, stride: tuple, padding: tuple) -> tuple:
    """(Ho, Wo) of a convolution; the same formula as torch.nn.Conv2d."""
    return (h + 2 * padding[0] - kh) // stride[0] + 1, (w + 2 * padding[1] - kw) // stride[1] + 1


def transposed_kernel(w: np.ndarray) -> np.ndarray:
    """w' (C, K, kh, kw), w'[c, k, i, j] = w[k, c, kh-1-i, kw-1-j]: a stride-1 conv's input gradient is the
    conv of g with w' at padding kh-1-ph, kw-1-pw (used by conv2d_threads.py and winograd.py)."""
    return np.ascontiguousarray(np.asarray(w)[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))


# ---------------------------------------------------------------------------------------------------
# The fast kernels used by minircan.
# ---------------------------------------------------------------------------------------------------


def images_per_chunk(n: int, rows: int, cols: int, itemsize: int) -> int:
    """How many images to lower at once: as many as keep the column buffer within COLS_BUDGET bytes.

    One image of a 64-channel 3x3 layer at 48x48 already fills 5.3 MB, so it goes alone and its columns are
    still in cache when the product reads them; small layers (3 or 16 channels) batch several images, so
    that each Numba call and each BLAS call has enough work to pay for its fixed cost.
    """
    return max(1, min(n, COLS_BUDGET // max(1, rows * cols * itemsize)))


COLS_BUDGET = 6 * 2**20


def forward(x: np.ndarray, w: np.ndarray, b, stride: tuple, padding: tuple) -> np.ndarray:
    """y = conv2d(x, w, b): x (N, C, H, W), w (K, C, kh, kw), b (K,) or None -> y (N, K, Ho, Wo).

    The bias rides in the product: cols gets one more row of ones and W one more column, b.
    """
    # BEGIN SOLUTION (task 2)
    x = np.ascontiguousarray(x)
    N, C, H, W = x.shape
    K, _, kh, kw = w.shape
    Ho, Wo = output_size(H, W, kh, kw, stride, padding)
    R = C * kh * kw
    w2 = np.ascontiguousarray(w).reshape(K, R)
    step = images_per_chunk(N, R, Ho * Wo, x.itemsize)
    if b is None:
        cols = np.empty((step, R, Ho * Wo), dtype=x.dtype)
    else:
        w2 = np.concatenate([w2, np.asarray(b, dtype=x.dtype).reshape(K, 1)], axis=1)
        cols = np.empty((step, R + 1, Ho * Wo), dtype=x.dtype)
        cols[:, R, :] = 1  # im2col fills rows 0..R-1 only; this row stays
    y = np.empty((N, K, Ho * Wo), dtype=x.dtype)
    for n0 in range(0, N, step):
        n1 = min(N, n0 + step)
        im2col(x[n0:n1], cols[: n1 - n0], kh, kw, stride[0], stride[1], padding[0], padding[1])
        np.matmul(w2, cols[: n1 - n0], out=y[n0:n1])
    return y.reshape(N, K, Ho, Wo)
    # END SOLUTION


def backward_input(g: np.ndarray, w: np.ndarray, x_shape: tuple, stride: tuple, padding: tuple) -> np.ndarray:
    """dL/dx (N, C, H, W) from g = dL/dy (N, K, Ho, Wo) and w (K, C, kh, kw): col2im(W^T @ G) per image."""
    # BEGIN SOLUTION (task 3)
    g = np.ascontiguousarray(g)
    N, C, H, W = x_shape
    K, _, kh, kw = w.shape
    Ho, Wo = g.shape[2], g.shape[3]
    w2t = np.ascontiguousarray(w).reshape(K, C * kh * kw).T
    g = g.reshape(N, K, Ho * Wo)
    step = images_per_chunk(N, C * kh * kw, Ho * Wo, g.itemsize)
    dcols = np.empty((step, C * kh * kw, Ho * Wo), dtype=g.dtype)
    dx = np.empty((N, C, H, W), dtype=g.dtype)
    for n0 in range(0, N, step):
        n1 = min(N, n0 + step)
        np.matmul(w2t, g[n0:n1], out=dcols[: n1 - n0])
        col2im(dcols[: n1 - n0], dx[n0:n1], kh, kw, stride[0], stride[1], padding[0], padding[1])
    return dx
    # END SOLUTION


def backward_params(g: np.ndarray, x: np.ndarray, w_shape: tuple, stride: tuple, padding: tuple,
                    bias: bool = True) -> tuple:
    """(dL/dw (K, C, kh, kw), dL/db (K,) or None) from g = dL/dy (N, K, Ho, Wo) and x.

    dW = sum over images of G @ cols^T; with bias=True, cols carries a row of ones, so the same product
    also yields dL/db = G @ ones (the row sums of G), as in the forward.
    """
    # BEGIN SOLUTION (task 3)
    g = np.ascontiguousarray(g)
    x = np.ascontiguousarray(x)
    N, C, H, W = x.shape
    K, _, kh, kw = w_shape
    Ho, Wo = g.shape[2], g.shape[3]
    R = C * kh * kw
    g = g.reshape(N, K, Ho * Wo)
    step = images_per_chunk(N, R, Ho * Wo, x.itemsize)
    rows = R + 1 if bias else R
    cols = np.empty((step, rows, Ho * Wo), dtype=x.dtype)
    if bias:
        cols[:, R, :] = 1
    # dW^T = cols @ G^T is the same product as dW = G @ cols^T, but BLAS runs it faster here (7.1 ms against
    # 10.4 ms for the paper's layer): its long dimension comes first and neither operand is a transposed copy.
    part = np.empty((step, rows, K), dtype=x.dtype)
    dwt = np.zeros((rows, K), dtype=x.dtype)
    for n0 in range(0, N, step):
        n1 = min(N, n0 + step)
        im2col(x[n0:n1], cols[: n1 - n0], kh, kw, stride[0], stride[1], padding[0], padding[1])
        np.matmul(cols[: n1 - n0], g[n0:n1].transpose(0, 2, 1), out=part[: n1 - n0])
        for k in range(n1 - n0):  # in image order: the same sum, bit for bit, on every run
            dwt += part[k]
    dw = np.ascontiguousarray(dwt[:R].T).reshape(K, C, kh, kw)
    return dw, (dwt[R].copy() if bias else None)
    # END SOLUTION


def backward_weight(g: np.ndarray, x: np.ndarray, w_shape: tuple, stride: tuple, padding: tuple) -> np.ndarray:
    """dL/dw (K, C, kh, kw) alone (see backward_params)."""
    return backward_params(g, x, w_shape, stride, padding, bias=False)[0]


def backward_bias(g: np.ndarray) -> np.ndarray:
    """dL/db (K,) = g summed over batch and space."""
    # BEGIN SOLUTION (task 3)
    return g.sum(axis=(0, 2, 3))
    # END SOLUTION


# ---------------------------------------------------------------------------------------------------
# The slow, obvious references: seven nested loops, straight from the formulas at the top.
# ---------------------------------------------------------------------------------------------------


@njit(cache=True)
def forward_naive(x, w, b, sh, sw, ph, pw):
    """Reference forward: seven nested loops. b may be an empty array for no bias."""
    # BEGIN SOLUTION (task 2)
    N, C, H, W = x.shape
    K, _, kh, kw = w.shape
    Ho = (H + 2 * ph - kh) // sh + 1
    Wo = (W + 2 * pw - kw) // sw + 1
    y = np.zeros((N, K, Ho, Wo), dtype=x.dtype)
    for n in range(N):
        for k in range(K):
            for ho in range(Ho):
                for wo in range(Wo):
                    acc = b[k] if b.size > 0 else 0.0
                    for c in range(C):
                        for i in range(kh):
                            for j in range(kw):
                                hi = ho * sh + i - ph
                                wi = wo * sw + j - pw
                                if 0 <= hi < H and 0 <= wi < W:
                                    acc += w[k, c, i, j] * x[n, c, hi, wi]
                    y[n, k, ho, wo] = acc
    return y
    # END SOLUTION


@njit(cache=True)
def backward_input_naive(g, w, H, W, sh, sw, ph, pw):
    """Reference input gradient: scatter every g[n, k, ho, wo] * w[k, c, i, j] to the pixel it read."""
    # BEGIN SOLUTION (task 3)
    N, K, Ho, Wo = g.shape
    _, C, kh, kw = w.shape
    dx = np.zeros((N, C, H, W), dtype=g.dtype)
    for n in range(N):
        for k in range(K):
            for ho in range(Ho):
                for wo in range(Wo):
                    for c in range(C):
                        for i in range(kh):
                            for j in range(kw):
                                hi = ho * sh + i - ph
                                wi = wo * sw + j - pw
                                if 0 <= hi < H and 0 <= wi < W:
                                    dx[n, c, hi, wi] += w[k, c, i, j] * g[n, k, ho, wo]
    return dx
    # END SOLUTION


@njit(cache=True)
def backward_weight_naive(g, x, kh, kw, sh, sw, ph, pw):
    """Reference weight gradient: dw[k, c, i, j] = sum over n, ho, wo of g * the input pixel it saw."""
    # BEGIN SOLUTION (task 3)
    N, K, Ho, Wo = g.shape
    _, C, H, W = x.shape
    dw = np.zeros((K, C, kh, kw), dtype=g.dtype)
    for n in range(N):
        for k in range(K):
            for ho in range(Ho):
                for wo in range(Wo):
                    for c in range(C):
                        for i in range(kh):
                            for j in range(kw):
                                hi = ho * sh + i - ph
                                wi = wo * sw + j - pw
                                if 0 <= hi < H and 0 <= wi < W:
                                    dw[k, c, i, j] += g[n, k, ho, wo] * x[n, c, hi, wi]
    return dw
    # END SOLUTION
