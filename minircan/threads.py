"""How minircan shares the cores: Numba's parallel loops on every core, BLAS on one thread.

Two thread pools work in a training step: Numba's (im2col, col2im, the elementwise kernels, the Winograd
transforms) and OpenBLAS's (the matrix products); a third, the kernels' own (kernels/thread_pool.py), shares
the products among the cores by giving each of its threads whole products to run on one BLAS thread. On a
machine nobody else uses, giving Numba and OpenBLAS every core is fastest. On a shared one it is not: OpenBLAS
splits each product statically between its threads and puts them to sleep between calls, so each of the few
hundred products of a step waits until a descheduled thread gets the core back (Numba's TBB pool steals work,
so it does not wait for a thread that holds no piece of the loop). Measured with ``python -m minircan.bench
--contention`` (tiny training step, 2-core AMD EPYC, see the README), time per step against everything on one
thread:

    busy neighbours                    0       1       3
    BLAS on both threads (before)      0.79x   1.15x   2.22x
    BLAS on one thread (the default)   0.88x   1.06x   0.80x

So minircan runs BLAS on one thread: 11 % slower on a quiet machine then, never much slower than one thread
under load. The kernels' thread pool took the 11 % back: with it, the default measured 0.75x / 1.33x / 0.64x
of one thread's time (README, "Under contention"). ``import minircan`` sets BLAS to one thread (through
threadpoolctl, at run time, so it holds whether NumPy was imported first or not) unless the environment
already says how many threads OpenBLAS should use:

    MINIRCAN_BLAS_THREADS=2 python -m minircan.train --tiny    # BLAS on two threads
    minircan.threads.set_blas_threads(None)                    # BLAS's own default again, in a program

(OPENBLAS_NUM_THREADS, GOTO_NUM_THREADS or OMP_NUM_THREADS set by you are kept as they are.)
"""

from __future__ import annotations

import os

DEFAULT_BLAS_THREADS = 1
ENV = "MINIRCAN_BLAS_THREADS"
BLAS_ENV = ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS")  # what OpenBLAS reads, in order

_original: object | None = None  # threadpoolctl's record of the limits before minircan changed them


def blas_threads() -> int | None:
    """How many threads the loaded BLAS libraries use (the largest, if several), or None if none is loaded."""
    from threadpoolctl import threadpool_info

    counts = [info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"]
    return max(counts) if counts else None


def set_blas_threads(n: int | None) -> None:
    """Run BLAS (NumPy's matrix products) on ``n`` threads; None: back to what BLAS used before minircan set it."""
    global _original
    from threadpoolctl import threadpool_limits

    if n is None:
        if _original is not None:
            _original.restore_original_limits()
            _original = None
        return
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"set_blas_threads({n!r}): give a whole number of threads >= 1, or None for BLAS's default")
    limits = threadpool_limits(limits=n, user_api="blas")
    if _original is None:
        _original = limits  # remembers the limits of before the first change


def apply_default() -> None:
    """What ``import minircan`` does: BLAS on MINIRCAN_BLAS_THREADS threads (default 1), unless one of
    OPENBLAS_NUM_THREADS, GOTO_NUM_THREADS, OMP_NUM_THREADS is set (the user's choice is kept)."""
    if any(name in os.environ for name in BLAS_ENV):
        return
    value = os.environ.get(ENV, str(DEFAULT_BLAS_THREADS))
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise ValueError(f"{ENV}={value!r}: set it to a whole number of threads >= 1 (or unset it for 1)")
    set_blas_threads(n)
