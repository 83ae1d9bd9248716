"""The CPU table's conv2d (kernels/conv2d_threads.py: the batch in jobs on the kernels' thread pool, the input
gradient of a stride-1 conv as a conv of g) against PyTorch, on both of its input-gradient paths and with the
batch in several jobs, the last one short; the same bits on one thread as on two; and the pool itself."""

import threading
from unittest import mock

import numba
import numpy as np
import pytest
import torch
from conftest import assert_close, assert_same_bits_on_one_and_two_threads
from hypothesis import assume, given
from hypothesis import strategies as st
from minircan.kernels import thread_pool
from minircan.kernels import conv2d_threads as CT
from test_kernels_conv2d import _data, _torch  # the same cases' data and PyTorch's answers


def _jobs_of(images: int, rows: int, pixels: int, dtype):
    """Within the block, every job of CT holds at most ``images`` images of a layer with ``rows`` lowered rows
    and ``pixels`` output pixels (JOB_BUDGET patched; Hypothesis tests cannot take the monkeypatch fixture)."""
    return mock.patch.object(CT, "JOB_BUDGET", images * rows * pixels * np.dtype(dtype).itemsize)


@st.composite
def cases(draw):
    # Each axis drawn on its own; stride 1 half the time, so that both input-gradient paths are swept.
    kh, kw = draw(st.sampled_from([1, 3, 5])), draw(st.sampled_from([1, 2, 3]))
    stride = draw(st.sampled_from([(1, 1), (1, 1), (2, 1), (1, 2)]))
    ph, pw = draw(st.integers(0, 3)), draw(st.integers(0, 2))
    n, c, out_c = draw(st.integers(1, 5)), draw(st.integers(1, 5)), draw(st.integers(1, 5))
    h, w = draw(st.integers(2, 9)), draw(st.integers(2, 9))
    assume(kh <= h + 2 * ph and kw <= w + 2 * pw)
    return dict(n=n, c=c, out_c=out_c, h=h, w=w, kh=kh, kw=kw, stride=stride, pad=(ph, pw),
                per_job=draw(st.integers(1, 3)), contiguous=draw(st.booleans()), seed=draw(st.integers(0, 2**31 - 1)))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@given(case=cases())
def test_matches_torch_in_jobs(case, dtype):
    x, w, b, g, s, p = _data(case, dtype)
    y, dx, dw, db = _torch(x, w, b, g, s, p)
    pixels = g.shape[2] * g.shape[3]
    # The smallest layer of the three kernels (forward: C kh kw + 1 rows) sets how many images a job holds.
    with _jobs_of(case["per_job"], case["c"] * case["kh"] * case["kw"] + 1, pixels, dtype):
        assert_close(CT.forward(x, w, b, s, p), y, dtype, "forward")
        assert_close(CT.backward_input(g, w, x.shape, s, p), dx, dtype, "input gradient")
        dw2, db2 = CT.backward_params(g, x, w.shape, s, p, bias=True)
        assert_close(dw2, dw, dtype, "weight gradient")
        assert_close(db2, db, dtype, "bias gradient")
        dw3, none = CT.backward_params(g, x, w.shape, s, p, bias=False)
        assert_close(dw3, dw, dtype, "weight gradient without the bias")
        assert none is None


def test_input_gradient_paths():
    # Stride 1, padding <= kernel - 1, K <= C: a conv of g; anything else: col2im.
    assert CT.input_grad_as_conv((16, 16, 3, 3), (1, 1), (1, 1))
    assert CT.input_grad_as_conv((3, 16, 3, 3), (1, 1), (2, 0))
    assert CT.input_grad_as_conv((4, 4, 1, 1), (1, 1), (0, 0))
    assert not CT.input_grad_as_conv((64, 16, 3, 3), (1, 1), (1, 1))  # more output channels: col2im pays
    assert not CT.input_grad_as_conv((16, 16, 3, 3), (2, 1), (1, 1))  # stride 2 in either axis
    assert not CT.input_grad_as_conv((16, 16, 3, 3), (1, 2), (1, 1))
    assert not CT.input_grad_as_conv((16, 16, 3, 3), (1, 1), (3, 1))  # padding past kernel - 1, each axis
    assert not CT.input_grad_as_conv((16, 16, 3, 3), (1, 1), (1, 3))
    assert not CT.input_grad_as_conv((16, 16, 1, 3), (1, 1), (1, 0))


@pytest.mark.parametrize("w_shape, padding", [((5, 7, 3, 2), (2, 1)), ((4, 3, 3, 5), (0, 4)), ((6, 6, 1, 1), (0, 0))])
def test_input_gradient_of_each_path_matches_torch_float64(rng, w_shape, padding):
    x = rng.standard_normal((3, w_shape[1], 8, 9))
    w = rng.standard_normal(w_shape)
    b = rng.standard_normal(w_shape[0])
    y = torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(w), None, padding=padding)
    g = rng.standard_normal(y.shape)
    _, dx, _, _ = _torch(x, w, b, g, (1, 1), padding)
    assert_close(CT.backward_input(g, w, x.shape, (1, 1), padding), dx, np.float64, f"input gradient {w_shape}")


def test_the_same_bits_on_one_thread_as_on_two(rng):
    # Jobs are cut by the layer's shape, never by the thread count, and summed in order.
    x = rng.standard_normal((7, 6, 11, 10)).astype(np.float32)
    g = rng.standard_normal((7, 5, 11, 10)).astype(np.float32)
    w = rng.standard_normal((5, 6, 3, 3)).astype(np.float32)
    b = rng.standard_normal(5).astype(np.float32)
    wide = rng.standard_normal((9, 6, 3, 3)).astype(np.float32)  # K > C: the input gradient by col2im
    gw = rng.standard_normal((7, 9, 11, 10)).astype(np.float32)

    def run_all():
        return [CT.forward(x, w, b, (1, 1), (1, 1)), CT.backward_input(g, w, x.shape, (1, 1), (1, 1)),
                CT.backward_input(gw, wide, x.shape, (1, 1), (1, 1)),
                *CT.backward_params(g, x, w.shape, (1, 1), (1, 1))]

    for images_per_job in (2, 7):  # several jobs; and one, which must stay one on two threads
        with _jobs_of(images_per_job, 6 * 9 + 1, 110, np.float32):
            assert_same_bits_on_one_and_two_threads(run_all, f"{images_per_job} images a job")


def test_jobs_hold_at_most_the_budget_and_are_as_equal_as_can_be():
    with _jobs_of(3, 10, 10, np.float32):
        assert CT._jobs(7, 10, 10, 4) == [(0, 2), (2, 4), (4, 7)]  # three jobs are needed; as equal as can be
        assert CT._jobs(6, 10, 10, 4) == [(0, 3), (3, 6)]
        assert CT._jobs(8, 10, 10, 4) == [(0, 2), (2, 5), (5, 8)]
        assert CT._jobs(2, 10, 10, 4) == [(0, 2)]
        assert CT._jobs(5, 10_000, 10, 4) == [(i, i + 1) for i in range(5)]  # an image over budget: one a job


def test_pool_returns_results_in_order_and_runs_numba_on_one_thread_per_worker():
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("one core: the pool never starts")
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(2)

        def job(i):
            return i, threading.get_ident(), numba.get_num_threads(), thread_pool.run(threading.get_ident, [()])

        out = thread_pool.run(job, [(i,) for i in range(9)])
    finally:
        numba.set_num_threads(before)
    assert [o[0] for o in out] == list(range(9))
    assert all(o[1] != threading.get_ident() for o in out), "the jobs ran on the pool's threads"
    assert all(o[2] == 1 for o in out), "a worker runs Numba on one thread"
    assert all(o[3] == [o[1]] for o in out), "a job's own run() is done inline, in the worker"


def test_pool_on_one_thread_runs_inline():
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        out = thread_pool.run(threading.get_ident, [(), ()])
    finally:
        numba.set_num_threads(before)
    assert out == [threading.get_ident()] * 2
