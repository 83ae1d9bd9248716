"""Shared test helpers.

Error measure used throughout: rel_error(a, b) = max|a - b| / max|b|, the worst absolute difference
relative to the reference's magnitude (elementwise relative error is meaningless for entries that are
zero by cancellation). Thresholds: float64 below 1e-10; float32 below FLOAT32_TOL = 1e-5 (float32 has a
unit roundoff of 6e-8; sums of a few hundred terms, as in a 64-channel 3x3 conv, stay well inside 1e-5).
"""

import os

import numpy as np
import pytest
try:
    from hypothesis import settings
except ImportError:  # a GPU machine with only CuPy, PyTorch and Numba runs `pytest -m gpu` without it
    settings = None
if settings is not None:
    settings.register_profile("minircan", deadline=None, max_examples=25, derandomize=True)
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "minircan"))


def pytest_configure(config):
    """Under pytest-xdist (``-n 2``), BLAS and PyTorch's OpenMP run one thread per worker process.

    Two workers already fill the two cores; OpenBLAS's and OpenMP's threads spin while they wait, so with
    two each they take the cores from the other worker (measured on this project's 2-core machine under
    load: 10 tiny training steps took 80.9 s with 2 BLAS threads, 10.1 s with 1). Set here, in the
    controller, before the workers (and the subprocesses the tests start) are launched, so they inherit it.
    Numba keeps its threads: the parallel kernels are still tested with more than one thread.
    """
    if getattr(config.option, "numprocesses", None):
        for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(name, "1")


FLOAT64_TOL = 1e-10
FLOAT32_TOL = 1e-5
TOL = {np.float64: FLOAT64_TOL, np.float32: FLOAT32_TOL}


def rel_error(a, b) -> float:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, f"shapes differ: {a.shape} vs {b.shape}"
    scale = np.abs(b).max() if b.size else 0.0
    return float(np.abs(a - b).max() / scale) if scale > 0 else float(np.abs(a - b).max())


def assert_close(a, b, dtype, what: str = "") -> None:
    err = rel_error(a, b)
    tol = TOL[np.dtype(dtype).type]
    assert err < tol, f"{what}: relative error {err:.3e} >= {tol:.0e} ({np.dtype(dtype).name})"


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def noncontiguous(a: np.ndarray) -> np.ndarray:
    """The same values as a, laid out so that a is not C-contiguous (a transposed copy, transposed back)."""
    b = np.ascontiguousarray(np.swapaxes(a, -1, -2))
    out = np.swapaxes(b, -1, -2)
    assert not out.flags.c_contiguous or out.shape[-1] == 1 or out.shape[-2] == 1
    return out


@pytest.fixture
def weights(tmp_path):
    """A tiny x2 RCAN with seeded random weights, saved as .npz (for the evaluate/upscale command lines)."""
    import minircan
    from minircan.models import RCAN, save_model

    minircan.manual_seed(0)
    path = tmp_path / "tiny.npz"
    save_model(RCAN.from_config("tiny", scale=2), path)
    return path


def assert_same_bits_on_one_and_two_threads(run, what: str = "") -> None:
    """run() (a list of arrays) gives the same bits with Numba on one thread as on two (or all there are)."""
    import numba

    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = run()
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        two = run()
    finally:
        numba.set_num_threads(before)
    for i, (a, b) in enumerate(zip(one, two, strict=True)):
        assert np.array_equal(a, b), f"{what}: output {i} differs between one thread and two"
