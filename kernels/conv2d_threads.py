"""conv2d.py's im2col kernels with the batch shared among threads: what the CPU's kernel table calls.

conv2d.py lowers a few images at a time and multiplies them with BLAS on one thread, so while a product runs
the other cores wait (its im2col and col2im are parallel, its products are not). Here the batch is cut into
jobs of a few images, each job is conv2d.py's kernel on those images, and the jobs run on the kernels' thread
pool (thread_pool.py), products and lowering alike. Shapes and arguments as in conv2d.py.

A job holds at most JOB_BUDGET bytes of columns, a size fixed by the layer's shape and never by the thread
count, so the images of a job and the order of the sums do not depend on the threads: the weight gradient
is the sum of the jobs' gradients in job order, the same bits on one thread or sixteen.

A stride-1 convolution's input gradient is itself a convolution: of g with the weights flipped in space and
transposed (w'[c, k, i, j] = w[k, c, kh-1-i, kw-1-j]) at padding kh-1-ph (as in winograd.py). Computed that
way, by im2col of g and one product, it skips col2im and the (C kh kw) x pixels matrix of the column
gradients; it lowers the K channels of g instead, so it pays where K <= C (measured: README, Benchmark).
"""

from __future__ import annotations

import numpy as np

from . import conv2d, thread_pool

JOB_BUDGET = 3 * 2**20  # bytes of columns per job: half of conv2d.COLS_BUDGET, for two jobs running at once


def _jobs(n: int, rows: int, cols: int, itemsize: int) -> list[tuple[int, int]]:
    """The batch cut into runs of images (n0, n1) of at most JOB_BUDGET bytes of columns each (at least one
    image), as few runs as that allows, their sizes as equal as can be (8 images, 5 a job at most: 4 and 4)."""
    most = max(1, JOB_BUDGET // max(1, rows * cols * itemsize))
    count = -(-n // most)
    edges = [n * i // count for i in range(count + 1)]
    return list(zip(edges, edges[1:]))


def _stacked(job, jobs: list[tuple[int, int]]) -> np.ndarray:
    """job(n0, n1) (the output of images n0 .. n1 - 1) for every run, stacked along the batch."""
    if len(jobs) == 1:  # no split: the output as it comes, without np.concatenate's copy
        return job(*jobs[0])
    return np.concatenate(thread_pool.run(job, jobs))


def forward(x: np.ndarray, w: np.ndarray, b, stride: tuple, padding: tuple) -> np.ndarray:
    """y = conv2d(x, w, b) (conv2d.forward), a run of images per job."""
    N, C, H, W = x.shape
    _, _, kh, kw = w.shape
    Ho, Wo = conv2d.output_size(H, W, kh, kw, stride, padding)
    return _stacked(lambda n0, n1: conv2d.forward(x[n0:n1], w, b, stride, padding),
                    _jobs(N, C * kh * kw + 1, Ho * Wo, x.itemsize))


def input_grad_as_conv(w_shape: tuple, stride: tuple, padding: tuple) -> bool:
    """Whether backward_input computes dL/dx as a convolution of g: at stride 1 and padding at most kernel - 1
    (where it is one), for at most as many output channels as input channels (where it pays: g lowered has
    K kh kw rows, col2im's column gradient C kh kw)."""
    K, C, kh, kw = w_shape
    return tuple(stride) == (1, 1) and padding[0] <= kh - 1 and padding[1] <= kw - 1 and K <= C


def backward_input(g: np.ndarray, w: np.ndarray, x_shape: tuple, stride: tuple, padding: tuple) -> np.ndarray:
    """dL/dx (N, C, H, W): forward(g, w flipped and transposed, padding k-1-p) where input_grad_as_conv says
    so, else col2im (conv2d.backward_input), a run of images per job."""
    _, C, kh, kw = w.shape
    if input_grad_as_conv(w.shape, stride, padding):
        return forward(g, conv2d.transposed_kernel(w), None, (1, 1), (kh - 1 - padding[0], kw - 1 - padding[1]))
    return _stacked(lambda n0, n1: conv2d.backward_input(g[n0:n1], w, (n1 - n0, *x_shape[1:]), stride, padding),
                    _jobs(x_shape[0], C * kh * kw, g.shape[2] * g.shape[3], g.itemsize))


def backward_params(g: np.ndarray, x: np.ndarray, w_shape: tuple, stride: tuple, padding: tuple,
                    bias: bool = True) -> tuple:
    """(dL/dw, dL/db or None) (conv2d.backward_params): each job's sums, added in job order."""
    N, C = x.shape[:2]
    kh, kw = w_shape[2:]
    jobs = _jobs(N, C * kh * kw + 1, g.shape[2] * g.shape[3], x.itemsize)
    parts = thread_pool.run(lambda n0, n1: conv2d.backward_params(g[n0:n1], x[n0:n1], w_shape, stride, padding,
                                                                  bias), jobs)
    dw, db = parts[0]
    for dw_job, db_job in parts[1:]:  # in job order: the same bits on every run and every thread count
        dw = dw + dw_job
        db = db + db_job if bias else None
    return dw, db
