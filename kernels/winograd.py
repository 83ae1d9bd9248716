"""Winograd convolution (Lavin and Gray 2016) for 3x3 stride-1 convolutions, NCHW, on the CPU with Numba + BLAS.

Shapes as in conv2d.py: x (N, C, H, W), w (K, C, 3, 3), b (K,), any zero padding (ph, pw); y (N, K, Ho, Wo)
with Ho = H + 2 ph - 2, Wo = W + 2 pw - 2. Stride 1 only.

The maths, in one dimension first. F(m, r) computes m outputs of an r-tap correlation,
y_i = sum_j g_j d_{i+j} (i < m, j < r), from alpha = m + r - 1 inputs with alpha multiplications instead of
m r:
    y = A^T [(G g) * (B^T d)]          (* element by element; A^T is m x alpha, G alpha x r, B^T alpha x alpha)
G evaluates the filter polynomial g(t) = sum_j g_j t^j at alpha points, B^T does the same for the data,
the products are the values of the product polynomial there, and A^T interpolates back (Toom-Cook); the
points are 0, 1, -1 and infinity for F(2, 3), 0, +-1, +-2 and infinity for F(4, 3) (notebook 09 derives
F(2, 3) by hand). Nesting the 1-D algorithm gives the 2-D one, per m x m output tile and its alpha x alpha
input tile d:
    Y = A^T [ (G g G^T) * (B^T d B) ] A
and over channels the element-wise product becomes a sum: for each of the alpha^2 transform points p,
    M[p] = U[p] @ V[p]     U[p] (K x C): the transformed weights, V[p] (C x tiles): the transformed input tiles
one BLAS matrix product per point. F(4x4, 3x3) (alpha = 6) does 36 multiplications per tile, channel pair
where the direct convolution does 16 x 9 = 144: 4x fewer; F(2x2, 3x3) (alpha = 4) 16 against 36: 2.25x.

The gradients:
- input: a stride-1 conv's input gradient is the conv of g with the flipped, transposed weights
  (w'[c, k, i, j] = w[k, c, 2 - i, 2 - j]) and padding 2 - p, so it is ``forward`` again (a padding above 2
  is a negative padding: the tiles start inside g; the transform reads with bounds checks either way).
- weight: differentiate the 1-D identity. sum_i z_i y_i = sum_p (A z)_p (G g)_p (B^T d)_p, so the gradient
  with respect to the filter, dw_j = sum_i z_i d_{i+j}, is G^T [(A z) * (B^T d)]. In 2-D, for g's m x m
  tile Z and the input tile D it saw, summed over every tile of every image:
      dW[k, c] = G^T [ sum_tiles (A Z_k A^T) * (B^T D_c B) ] G
  and the sum over tiles is, for each point p, one product S[p] = Zhat[p] (K x tiles) @ V[p]^T (tiles x C).
  The same input transform, a "gradient transform" of g, and 36 products with a long inner dimension.

The work goes by blocks of tile rows (a tile row: one image's m output rows): transform a block's input
tiles (Numba), multiply (BLAS), inverse-transform (Numba) while the block's V and M are still in cache; a
block's buffers are about BLOCK_BUDGET bytes whatever the image size, and a call has at least MIN_BLOCKS
blocks where it has the tile rows. Each block is a job of the kernels' thread pool (thread_pool.py), done
start to end by one thread, so its V and M stay in that core's cache and the threads never wait for each other
inside a block (measured at the paper's layer: forward 42 -> 33 ms, input gradient 40 -> 26-30 ms, weight
gradient 43-50 -> 35-47 ms against the transforms on every thread and the products shared by transform
point, side by side, the same bits).

F(4x4)'s transforms run along a whole block of one channel at a time: the block's input rows laid end to end,
4 (TW + 1) columns a tile row, so that tile u of the block reads columns 4u .. 4u + 5 (the spare tile TW of
each row is what makes the stride constant across rows), and every transform is a loop along the block with
one store stream, which LLVM vectorises (see input_transform4). Against the earlier per-tile-row loops
(scalar code: LLVM would not vectorise loops storing six rows at once), same bits, one thread, paper layer:
input transform 15.6-18.2 -> 5.7-7.6 ms, output transform 11.4-19.2 -> 3.6-5.6 ms; the 36 products
(10.6-13.4 ms) are now the largest part of a forward. Then (a 2-core AMD EPYC with AVX-512): the three F(4x4)
kernels on one thread, their scratch rows allocated once a call rather than once a channel, rows copied by loops
rather than slice assignments, the phase split in one loop: one block of the paper layer in cache, input
transform 271 -> 127 us, output transform 149 -> 93-138 us; the paper layer's forward on 2 threads 11.2-12.7 ->
9.5-9.7 ms, the same bits. F(2x2)'s generic transforms (loops over the matrices'
entries) are the teaching rung, kept as they were. Partial edge tiles (Ho or Wo not a multiple of m) read
zeros past the input and write only the outputs that exist.

Accuracy: the transforms' coefficients grow with the points (F(4, 3) multiplies by up to 8 in A^T, 5 in
B^T), so rounding errors grow too: tests/test_kernels_winograd.py and the README state the measured float32
error of each tile size. Determinism: each block writes its own tiles of y, and the weight gradient sums
the blocks' products in block order, so the bits do not depend on the thread count.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from . import conv2d, thread_pool

# ---------------------------------------------------------------------------------------------------
# The transforms, F(m x m, 3 x 3): (A^T, G, B^T), Lavin and Gray's matrices.
# ---------------------------------------------------------------------------------------------------

# F(2, 3): points 0, 1, -1, infinity.
F2_AT = np.array([[1, 1, 1, 0],
                  [0, 1, -1, -1]], dtype=np.float64)
F2_G = np.array([[1, 0, 0],
                 [0.5, 0.5, 0.5],
                 [0.5, -0.5, 0.5],
                 [0, 0, 1]], dtype=np.float64)
F2_BT = np.array([[1, 0, -1, 0],
                  [0, 1, 1, 0],
                  [0, -1, 1, 0],
                  [0, 1, 0, -1]], dtype=np.float64)

# F(4, 3): points 0, 1, -1, 2, -2, infinity.
F4_AT = np.array([[1, 1, 1, 1, 1, 0],
                  [0, 1, -1, 2, -2, 0],
                  [0, 1, 1, 4, 4, 0],
                  [0, 1, -1, 8, -8, 1]], dtype=np.float64)
F4_G = np.array([[1 / 4, 0, 0],
                 [-1 / 6, -1 / 6, -1 / 6],
                 [-1 / 6, 1 / 6, -1 / 6],
                 [1 / 24, 1 / 12, 1 / 6],
                 [1 / 24, -1 / 12, 1 / 6],
                 [0, 0, 1]], dtype=np.float64)
F4_BT = np.array([[4, 0, -5, 0, 1, 0],
                  [0, -4, -4, 1, 1, 0],
                  [0, 4, -4, -1, 1, 0],
                  [0, -2, -1, 2, 1, 0],
                  [0, 2, -1, -2, 1, 0],
                  [0, 4, 0, -5, 0, 1]], dtype=np.float64)

TILES = {2: (F2_AT, F2_G, F2_BT), 4: (F4_AT, F4_G, F4_BT)}
"""Output tile size m -> (A^T (m x alpha), G (alpha x 3), B^T (alpha x alpha)), alpha = m + 2."""

DEFAULT_TILE = 4
BLOCK_BUDGET = 2**21  # bytes of V and M (or Zhat) per block of tile rows
MIN_BLOCKS = 4  # blocks a call is cut into at least (where it has the tile rows): work for every thread


def applies(w_shape: tuple, stride: tuple) -> bool:
    """Whether Winograd computes this convolution: a 3x3 kernel at stride 1 (any padding)."""
    return tuple(w_shape[2:]) == (3, 3) and tuple(stride) == (1, 1)


def weight_transform(w: np.ndarray, G: np.ndarray) -> np.ndarray:
    """U (alpha^2, K, C) with U[a alpha + b, k, c] = (G w[k, c] G^T)[a, b]; computed in float64, once per call."""
    K, C = w.shape[:2]
    alpha = G.shape[0]
    u = np.einsum("ai,kcij,bj->abkc", G, np.asarray(w, dtype=np.float64), G, optimize=True)
    return np.ascontiguousarray(u.reshape(alpha * alpha, K, C), dtype=w.dtype)


# ---------------------------------------------------------------------------------------------------
# The Numba transforms: one block of tile rows q0 .. q1 - 1 (tile row q: image q // TH, tile row q % TH).
# A block's tiles are the columns of V, M and Z: tile tw of tile row q at (q - q0)(TW + 1) + tw. Each tile
# row has one spare tile, TW, which the input and gradient transforms set to 0 and the output transform
# ignores: it is what lets F(4x4)'s transforms run along a whole block at a constant stride (see
# input_transform4), for 1 / TW more work in the products.
# ---------------------------------------------------------------------------------------------------


@njit(inline="always")
def _check_tiles(A, alpha, channels, nq, TW):
    """The kernels write without bounds checks: refuse a V, M or Z of the wrong shape rather than overrun it."""
    if A.shape[0] != alpha * alpha or A.shape[1] != channels or A.shape[2] != nq * (TW + 1):
        raise ValueError("winograd: V, M and Z are (alpha^2, channels, (q1 - q0)(TW + 1)): one spare tile a tile row")


@njit(cache=True)
def _rows_times(M, s):
    """t[a, :, :] = sum_i M[a, i] s[i, :, :]: a transform matrix applied down the first axis of a strip of
    tiles (s: rows of the tiles x a phase x the tiles), its zero coefficients skipped."""
    t = np.zeros((M.shape[0], s.shape[1], s.shape[2]), dtype=s.dtype)
    for a in range(M.shape[0]):
        for i in range(M.shape[1]):
            coef = M[a, i]
            if coef != 0:
                for r in range(s.shape[1]):
                    for k in range(s.shape[2]):
                        t[a, r, k] += coef * s[i, r, k]
    return t


@njit(cache=True, parallel=True, nogil=True)
def input_transform(x, V, BT, m, ph, pw, TH, TW, q0, q1):
    """V[a alpha + b, c, (q - q0)(TW + 1) + tw] = (B^T d B)[a, b] for the input tile d of tile (q, tw), channel c.

    The tile of output tile (th, tw) is xpad[th m + i, tw m + j], i, j < alpha; xpad is x with ph, pw zeros
    around (negative: cropped). x (N, C, H, W); V (alpha^2, C, (q1 - q0)(TW + 1))."""
    _, C, H, W = x.shape
    alpha = BT.shape[0]
    nq = q1 - q0
    _check_tiles(V, alpha, C, nq, TW)
    nk = TW + 1  # columns of the strip, by phase: xpad column m k + r is s[i, r, k]; m (TW + 1) >= TW m + 2
    for it in prange(C * nq):
        c, qi = it // nq, it % nq
        q = q0 + qi
        n, h0 = q // TH, (q % TH) * m - ph
        # The strip of alpha input rows, stored by phase (column m k + r at [r, k]) so that the tile
        # transforms below read contiguous runs: tile tw's column j is [j % m, tw + j // m].
        s = np.zeros((alpha, m, nk), dtype=x.dtype)
        for i in range(alpha):
            hi = h0 + i
            if 0 <= hi < H:
                for r in range(m):
                    for k in range(nk):
                        wi = m * k + r - pw
                        if 0 <= wi < W:
                            s[i, r, k] = x[n, c, hi, wi]
        t = _rows_times(BT, s)  # B^T down the columns
        base = qi * (TW + 1)
        for a in range(alpha):  # then B along each tile's rows
            for b in range(alpha):
                p = a * alpha + b
                for tw in range(TW):
                    V[p, c, base + tw] = 0
                for j in range(alpha):
                    coef = BT[b, j]
                    if coef != 0:
                        r, dk = j % m, j // m
                        for tw in range(TW):
                            V[p, c, base + tw] += coef * t[a, r, tw + dk]
        V[:, c, base + TW] = 0  # the spare tile


@njit(cache=True, parallel=True, nogil=True)
def output_transform(M, y, AT, bias, TH, TW, q0, q1):
    """y tile (q, tw) of channel k = A^T M_tile A + bias[k], cut to y's size. M (alpha^2, K, (q1 - q0)(TW + 1));
    y (N, K, Ho, Wo); bias (K,) (zeros for none)."""
    _, K, Ho, Wo = y.shape
    m, alpha = AT.shape
    nq = q1 - q0
    _check_tiles(M, alpha, K, nq, TW)
    for it in prange(K * nq):
        k, qi = it // nq, it % nq
        q = q0 + qi
        n, h0 = q // TH, (q % TH) * m
        base = qi * (TW + 1)
        r = np.zeros((alpha, m, TW), dtype=y.dtype)  # A along each tile's rows; column j of tile tw at [j, tw]
        for a in range(alpha):
            for j in range(m):
                for b in range(alpha):
                    coef = AT[j, b]
                    if coef != 0:
                        for tw in range(TW):
                            r[a, j, tw] += coef * M[a * alpha + b, k, base + tw]
        bk = bias[k]
        row = np.empty((m, TW), dtype=y.dtype)
        for i in range(min(m, Ho - h0)):  # then A^T down the columns; the last tile row may be partial
            row[:] = bk
            for a in range(alpha):
                coef = AT[i, a]
                if coef != 0:
                    for j in range(m):
                        for tw in range(TW):
                            row[j, tw] += coef * r[a, j, tw]
            for j in range(m):
                for tw in range(TW):
                    wo = tw * m + j
                    if wo < Wo:  # the last tile column may be partial
                        y[n, k, h0 + i, wo] = row[j, tw]


@njit(cache=True, parallel=True, nogil=True)
def grad_transform(g, Z, AT, TH, TW, q0, q1):
    """Z[a alpha + b, k, (q - q0)(TW + 1) + tw] = (A z A^T)[a, b] for g's m x m tile z (zeros past g's
    edge). g (N, K, Ho, Wo); Z (alpha^2, K, (q1 - q0)(TW + 1))."""
    _, K, Ho, Wo = g.shape
    m, alpha = AT.shape
    nq = q1 - q0
    _check_tiles(Z, alpha, K, nq, TW)
    for it in prange(K * nq):
        k, qi = it // nq, it % nq
        q = q0 + qi
        n, h0 = q // TH, (q % TH) * m
        z = np.zeros((m, m, TW), dtype=g.dtype)  # the tile row of g by phase: g column tw m + j at [., j, tw]
        for i in range(min(m, Ho - h0)):
            for j in range(m):
                for tw in range(TW):
                    wo = tw * m + j
                    if wo < Wo:
                        z[i, j, tw] = g[n, k, h0 + i, wo]
        t = _rows_times(AT.T, z)  # A down the columns
        base = qi * (TW + 1)
        out = np.empty(TW, dtype=g.dtype)
        for a in range(alpha):  # then A along each tile's rows
            for b in range(alpha):
                out[:] = 0
                for j in range(m):
                    coef = AT[j, b]
                    if coef != 0:
                        for tw in range(TW):
                            out[tw] += coef * t[a, j, tw]
                Z[a * alpha + b, k, base:base + TW] = out
        Z[:, k, base + TW] = 0  # the spare tile


# ---------------------------------------------------------------------------------------------------
# F(4x4, 3x3), the fast rung: the same three transforms with F4's matrices written out as formulas (the
# loops above spend most of their time on zero coefficients and index arithmetic). Each 1-D transform is a
# function of six (or four) values kept in registers; the tests check them against the matrices.
# ---------------------------------------------------------------------------------------------------


@njit(inline="always")
def _x2(u):
    return u + u  # 2u, exactly, in u's own precision (an integer literal would promote float32 to float64)


@njit(inline="always")
def _x4(u):
    return _x2(_x2(u))


@njit(inline="always")
def _bt4(d0, d1, d2, d3, d4, d5):
    """B^T d for F(4, 3): the rows of F4_BT, e.g. 4 d0 - 5 d2 + d4 = 4 (d0 - d2) + (d4 - d2)."""
    return (_x4(d0 - d2) + (d4 - d2), (d3 + d4) - _x4(d1 + d2), _x4(d1 - d2) + (d4 - d3),
            _x2(d3 - d1) + (d4 - d2), _x2(d1 - d3) + (d4 - d2), _x4(d1 - d3) + (d5 - d3))


@njit(inline="always")
def _at4(m0, m1, m2, m3, m4, m5):
    """A^T m for F(4, 3): the rows of F4_AT."""
    s12, d12, s34, d34 = m1 + m2, m1 - m2, m3 + m4, m3 - m4
    return m0 + s12 + s34, d12 + _x2(d34), s12 + _x4(s34), d12 + _x4(_x2(d34)) + m5


@njit(inline="always")
def _a4(z0, z1, z2, z3):
    """A z for F(4, 3) (z: 4 values of a gradient tile): the columns of F4_AT."""
    s02, s13 = z0 + z2, z1 + z3
    t02, t13 = z0 + _x4(z2), _x2(z1 + _x4(z3))
    return z0, s02 + s13, s02 - s13, t02 + t13, t02 - t13, z3


@njit(inline="always")
def _bt4_row(d0, d1, d2, d3, d4, d5, o, n, a):
    """o[v] = (B^T d)[a], d = (d0[v], ..., d5[v]), for v < n: one row of the transform as a loop with one store
    stream, which LLVM vectorises (a loop storing six rows at once it cannot prove free of overlaps, and does
    not); ``a`` is a constant once inlined, so only row a of the formulas is computed."""
    for v in range(n):
        o[v] = _bt4(d0[v], d1[v], d2[v], d3[v], d4[v], d5[v])[a]


@njit(inline="always")
def _at4_row(m0, m1, m2, m3, m4, m5, o, n, j):
    """o[u] = (A^T m)[j], m = (m0[u], ..., m5[u]), for u < n: as _bt4_row."""
    for u in range(n):
        o[u] = _at4(m0[u], m1[u], m2[u], m3[u], m4[u], m5[u])[j]


@njit(inline="always")
def _a4_row(z0, z1, z2, z3, o, n, a):
    """o[u] = (A z)[a], z = (z0[u], ..., z3[u]), for u < n: as _bt4_row."""
    for u in range(n):
        o[u] = _a4(z0[u], z1[u], z2[u], z3[u])[a]


@njit(inline="always")
def _by_phase(t, s, n):
    """s[a, r, u] = t[a, 4 u + r] for r < 4, u < n: rows laid out at four columns a tile, split by column phase,
    so that the columns 0..5 of tile u are s[a, 0..3, u] and s[a, 0..1, u + 1]: contiguous along u. The four
    phases in one loop: LLVM then reads t in whole vectors and shuffles them (a loop a phase reads t with
    stride 4, a gather, and took twice as long)."""
    for a in range(t.shape[0]):
        ta = t[a]
        s0, s1, s2, s3 = s[a, 0], s[a, 1], s[a, 2], s[a, 3]
        for u in range(n):
            s0[u] = ta[4 * u]
            s1[u] = ta[4 * u + 1]
            s2[u] = ta[4 * u + 2]
            s3[u] = ta[4 * u + 3]


@njit(inline="always")
def _copy(dst, src, n):
    """dst[:n] = src[:n] as a loop: Numba's slice assignment costs more in overhead per call than the copy of
    one image row (measured: the row copies of one block of the paper layer, 59-60 -> 11-24 us)."""
    for j in range(n):
        dst[j] = src[j]


@njit(cache=True, nogil=True)
def input_transform4(x, V, ph, pw, TH, TW, q0, q1):
    """input_transform for F(4x4, 3x3), the whole block of one channel at a time: input row i of every tile row
    laid end to end, (TW + 1) 4 columns a tile row (the spare tile's 4 included), so that tile u of the block
    (tile row u // (TW + 1)) reads columns 4 u .. 4 u + 5; then B^T down the six rows, then B along them.
    One thread: the kernels' thread pool shares the blocks among the cores, and a block's scratch rows are
    allocated once, not once a channel."""
    _, C, H, W = x.shape
    nq = q1 - q0
    Wp = 4 * (TW + 1)
    n = nq * (TW + 1)  # the block's tiles, the spares included
    L = nq * Wp + 4  # four zero columns past the last row: the spares' reads
    lo, hi = max(0, pw), min(Wp, W + pw)  # the columns of a padded row that hold x
    _check_tiles(V, 6, C, nq, TW)
    d = np.zeros((6, L), dtype=x.dtype)  # every channel writes the same columns: the others stay 0
    t = np.empty((6, L), dtype=x.dtype)
    s = np.empty((6, 4, n + 1), dtype=x.dtype)
    for c in range(C):
        for qi in range(nq):
            q = q0 + qi
            img, h0 = q // TH, (q % TH) * 4 - ph
            for i in range(6):
                if 0 <= h0 + i < H and lo < hi:
                    _copy(d[i, qi * Wp + lo:], x[img, c, h0 + i, lo - pw:], hi - lo)
        d0, d1, d2, d3, d4, d5 = d[0], d[1], d[2], d[3], d[4], d[5]  # B^T down the columns
        _bt4_row(d0, d1, d2, d3, d4, d5, t[0], L, 0)
        _bt4_row(d0, d1, d2, d3, d4, d5, t[1], L, 1)
        _bt4_row(d0, d1, d2, d3, d4, d5, t[2], L, 2)
        _bt4_row(d0, d1, d2, d3, d4, d5, t[3], L, 3)
        _bt4_row(d0, d1, d2, d3, d4, d5, t[4], L, 4)
        _bt4_row(d0, d1, d2, d3, d4, d5, t[5], L, 5)
        _by_phase(t, s, n + 1)
        for a in range(6):  # then B along each tile's row
            s0, s1, s2, s3, s4, s5 = s[a, 0], s[a, 1], s[a, 2], s[a, 3], s[a, 0, 1:], s[a, 1, 1:]
            p = 6 * a
            _bt4_row(s0, s1, s2, s3, s4, s5, V[p, c], n, 0)
            _bt4_row(s0, s1, s2, s3, s4, s5, V[p + 1, c], n, 1)
            _bt4_row(s0, s1, s2, s3, s4, s5, V[p + 2, c], n, 2)
            _bt4_row(s0, s1, s2, s3, s4, s5, V[p + 3, c], n, 3)
            _bt4_row(s0, s1, s2, s3, s4, s5, V[p + 4, c], n, 4)
            _bt4_row(s0, s1, s2, s3, s4, s5, V[p + 5, c], n, 5)
            for qi in range(nq):  # the spare tiles, element by element (a slice assignment cost 3x more)
                spare = qi * (TW + 1) + TW
                for b in range(6):
                    V[p + b, c, spare] = 0


@njit(cache=True, nogil=True)
def output_transform4(M, y, bias, TH, TW, q0, q1):
    """output_transform for F(4x4, 3x3), the whole block of one channel at a time: A along the tiles' rows, A^T
    down their columns, by column phase (o[i, j, u]: output (i, j) of tile u), then each output row of each
    tile row (plus the bias) into y, the phases interleaved and cut to y's size. One thread, as
    input_transform4."""
    _, K, Ho, Wo = y.shape
    nq = q1 - q0
    n = nq * (TW + 1)
    _check_tiles(M, 6, K, nq, TW)
    r = np.empty((6, 4, n), dtype=y.dtype)  # r[a, j, u]: column j of tile u, row a
    o = np.empty((4, 4, n), dtype=y.dtype)
    full = Wo // 4  # whole tiles in a row of y; a partial one may follow
    for k in range(K):
        for a in range(6):
            p = 6 * a
            m0, m1, m2, m3, m4, m5 = M[p, k], M[p + 1, k], M[p + 2, k], M[p + 3, k], M[p + 4, k], M[p + 5, k]
            _at4_row(m0, m1, m2, m3, m4, m5, r[a, 0], n, 0)
            _at4_row(m0, m1, m2, m3, m4, m5, r[a, 1], n, 1)
            _at4_row(m0, m1, m2, m3, m4, m5, r[a, 2], n, 2)
            _at4_row(m0, m1, m2, m3, m4, m5, r[a, 3], n, 3)
        for j in range(4):
            r0, r1, r2, r3, r4, r5 = r[0, j], r[1, j], r[2, j], r[3, j], r[4, j], r[5, j]
            _at4_row(r0, r1, r2, r3, r4, r5, o[0, j], n, 0)
            _at4_row(r0, r1, r2, r3, r4, r5, o[1, j], n, 1)
            _at4_row(r0, r1, r2, r3, r4, r5, o[2, j], n, 2)
            _at4_row(r0, r1, r2, r3, r4, r5, o[3, j], n, 3)
        bk = bias[k]
        for qi in range(nq):
            q = q0 + qi
            img, h0 = q // TH, (q % TH) * 4
            base = qi * (TW + 1)
            for i in range(min(4, Ho - h0)):  # the last tile row may be partial
                yr = y[img, k, h0 + i]
                o0, o1, o2, o3 = o[i, 0, base:], o[i, 1, base:], o[i, 2, base:], o[i, 3, base:]
                for u in range(full):
                    yr[4 * u] = o0[u] + bk
                    yr[4 * u + 1] = o1[u] + bk
                    yr[4 * u + 2] = o2[u] + bk
                    yr[4 * u + 3] = o3[u] + bk
                for wo in range(4 * full, Wo):  # and the last tile column
                    yr[wo] = o[i, wo - 4 * full, base + full] + bk


@njit(cache=True, nogil=True)
def grad_transform4(g, Z, TH, TW, q0, q1):
    """grad_transform for F(4x4, 3x3), laid out as input_transform4 (rows of g end to end, zeros past g's edge,
    so the spare tiles come out 0). One thread, as input_transform4."""
    _, K, Ho, Wo = g.shape
    nq = q1 - q0
    Wp = 4 * (TW + 1)
    n = nq * (TW + 1)
    L = nq * Wp
    _check_tiles(Z, 6, K, nq, TW)
    z = np.zeros((4, L), dtype=g.dtype)  # every channel writes the same columns: the others stay 0
    t = np.empty((6, L), dtype=g.dtype)
    s = np.empty((6, 4, n), dtype=g.dtype)
    for k in range(K):
        for qi in range(nq):
            q = q0 + qi
            img, h0 = q // TH, (q % TH) * 4
            for i in range(min(4, Ho - h0)):
                _copy(z[i, qi * Wp:], g[img, k, h0 + i], Wo)
        z0, z1, z2, z3 = z[0], z[1], z[2], z[3]  # A down the columns
        _a4_row(z0, z1, z2, z3, t[0], L, 0)
        _a4_row(z0, z1, z2, z3, t[1], L, 1)
        _a4_row(z0, z1, z2, z3, t[2], L, 2)
        _a4_row(z0, z1, z2, z3, t[3], L, 3)
        _a4_row(z0, z1, z2, z3, t[4], L, 4)
        _a4_row(z0, z1, z2, z3, t[5], L, 5)
        _by_phase(t, s, n)
        for a in range(6):  # then A along each tile's row
            s0, s1, s2, s3 = s[a, 0], s[a, 1], s[a, 2], s[a, 3]
            p = 6 * a
            _a4_row(s0, s1, s2, s3, Z[p, k], n, 0)
            _a4_row(s0, s1, s2, s3, Z[p + 1, k], n, 1)
            _a4_row(s0, s1, s2, s3, Z[p + 2, k], n, 2)
            _a4_row(s0, s1, s2, s3, Z[p + 3, k], n, 3)
            _a4_row(s0, s1, s2, s3, Z[p + 4, k], n, 4)
            _a4_row(s0, s1, s2, s3, Z[p + 5, k], n, 5)


# ---------------------------------------------------------------------------------------------------
# The kernels: same signatures as conv2d.py's, less the stride (always 1), plus the tile size m.
# ---------------------------------------------------------------------------------------------------


def _tiles(ho: int, wo: int, m: int) -> tuple[int, int]:
    return -(-ho // m), -(-wo // m)


def block_columns(q0: int, q1: int, tw: int) -> int:
    """Columns of a block's V, M and Z: the tiles of tile rows q0 .. q1 - 1, tw a row, and each row's spare."""
    return (q1 - q0) * (tw + 1)


def rows_per_block(n_rows: int, channels: int, tw: int, alpha: int, itemsize: int, budget: int | None = None) -> int:
    """Tile rows per block: as many as keep the block's transformed tiles (``channels`` = C + K of them per
    tile, tw tiles and a spare a row) within ``budget`` bytes (default BLOCK_BUDGET), and few enough for
    MIN_BLOCKS blocks; at least one. The count depends on the shapes only, never on the thread count, so that
    the weight gradient's sum over blocks is the same bits on any number of threads."""
    per_row = alpha * alpha * channels * block_columns(0, 1, tw) * itemsize
    return max(1, min(-(-n_rows // MIN_BLOCKS), (budget or BLOCK_BUDGET) // max(1, per_row)))


def _blocks(n_rows: int, rows: int) -> list[tuple[int, int]]:
    """Tile rows 0 .. n_rows - 1 in blocks (q0, q1) of ``rows`` rows, the last one shorter if need be."""
    return [(q0, min(n_rows, q0 + rows)) for q0 in range(0, n_rows, rows)]


def _input_transform(x, V, m: int, bt, padding: tuple, TH: int, TW: int, q0: int, q1: int) -> None:
    """V = the transformed input tiles of block q0 .. q1 - 1: F(4x4)'s formulas, or the generic loops with B^T."""
    if m == 4:
        input_transform4(x, V, padding[0], padding[1], TH, TW, q0, q1)
    else:
        input_transform(x, V, bt, m, padding[0], padding[1], TH, TW, q0, q1)


def forward(x: np.ndarray, w: np.ndarray, b, padding: tuple, m: int = DEFAULT_TILE) -> np.ndarray:
    """y = conv2d(x, w, b, stride 1, padding) by F(m x m, 3 x 3): x (N, C, H, W), w (K, C, 3, 3), b (K,) or None
    -> y (N, K, H + 2 ph - 2, W + 2 pw - 2). A padding may be negative (the input is cropped)."""
    x = np.ascontiguousarray(x)
    N, C, H, W = x.shape
    K = w.shape[0]
    AT, G, BT = TILES[m]
    alpha = m + 2
    Ho, Wo = H + 2 * padding[0] - 2, W + 2 * padding[1] - 2
    TH, TW = _tiles(Ho, Wo, m)
    U = weight_transform(w, G)
    bias = np.zeros(K, x.dtype) if b is None else np.ascontiguousarray(b, dtype=x.dtype)
    at, bt = AT.astype(x.dtype), BT.astype(x.dtype)  # small integers: exact in float32
    y = np.empty((N, K, Ho, Wo), dtype=x.dtype)

    def block(q0: int, q1: int) -> None:
        T = block_columns(q0, q1, TW)
        V = np.empty((alpha * alpha, C, T), dtype=x.dtype)
        Mb = np.empty((alpha * alpha, K, T), dtype=x.dtype)
        _input_transform(x, V, m, bt, padding, TH, TW, q0, q1)
        np.matmul(U, V, out=Mb)  # one (K x C) @ (C x T) product per transform point
        if m == 4:
            output_transform4(Mb, y, bias, TH, TW, q0, q1)
        else:
            output_transform(Mb, y, at, bias, TH, TW, q0, q1)

    rows = rows_per_block(N * TH, C + K, TW, alpha, x.itemsize)
    thread_pool.run(block, _blocks(N * TH, rows))
    return y


def backward_input(g: np.ndarray, w: np.ndarray, x_shape: tuple, padding: tuple, m: int = DEFAULT_TILE) -> np.ndarray:
    """dL/dx (N, C, H, W) = conv2d(g, w flipped and transposed, padding 2 - p): g (N, K, Ho, Wo), w (K, C, 3, 3)."""
    dx = forward(g, conv2d.transposed_kernel(w), None, (2 - padding[0], 2 - padding[1]), m)
    assert dx.shape == tuple(x_shape), (dx.shape, x_shape)
    return dx


def backward_params(g: np.ndarray, x: np.ndarray, w_shape: tuple, padding: tuple, bias: bool = True,
                    m: int = DEFAULT_TILE) -> tuple:
    """(dL/dw (K, C, 3, 3), dL/db (K,) or None) from g = dL/dy (N, K, Ho, Wo) and x (N, C, H, W):
    dW[k, c] = G^T [sum over tiles of (A Z A^T) * (B^T D B)] G, one (K x tiles) @ (tiles x C) product per
    transform point and block, summed over blocks in order."""
    g = np.ascontiguousarray(g)
    x = np.ascontiguousarray(x)
    N, C, H, W = x.shape
    K = w_shape[0]
    Ho, Wo = g.shape[2], g.shape[3]
    AT, G, BT = TILES[m]
    alpha = m + 2
    TH, TW = _tiles(Ho, Wo, m)
    at, bt = AT.astype(x.dtype), BT.astype(x.dtype)

    def block(q0: int, q1: int) -> np.ndarray:
        T = block_columns(q0, q1, TW)
        V = np.empty((alpha * alpha, C, T), dtype=x.dtype)
        Z = np.empty((alpha * alpha, K, T), dtype=x.dtype)
        _input_transform(x, V, m, bt, padding, TH, TW, q0, q1)
        if m == 4:
            grad_transform4(g, Z, TH, TW, q0, q1)
        else:
            grad_transform(g, Z, at, TH, TW, q0, q1)
        return np.matmul(Z, V.transpose(0, 2, 1))  # (alpha^2, K, C): this block's sum over its tiles

    # Each block returns an (alpha^2, K, C) partial sum, allocated and added once per block: a block holds at
    # least four times that in tiles, so that the partials stay a small cost (the paper's 64 -> 256 upsampler,
    # N=16, 48x48: 2.4 MB partials; 64 blocks of 2 MB took 253-301 ms, 13 of 9.4 MB 153-161 ms, side by side).
    budget = max(BLOCK_BUDGET, 4 * alpha * alpha * K * C * x.itemsize)
    rows = rows_per_block(N * TH, C + K, TW, alpha, x.itemsize, budget)
    parts = thread_pool.run(block, _blocks(N * TH, rows))
    S = np.zeros((alpha * alpha, K, C), dtype=x.dtype)
    for part in parts:  # block by block, in order: the same bits on every run and every thread count
        S += part
    s = S.astype(np.float64).reshape(alpha, alpha, K, C)
    dw = np.einsum("ai,abkc,bj->kcij", G, s, G, optimize=True).astype(x.dtype)
    return np.ascontiguousarray(dw), (g.sum(axis=(0, 2, 3)) if bias else None)
