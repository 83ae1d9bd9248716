"""The kernels' own pool of Python threads, for the work Numba's parallel loops do not share: BLAS products.

minircan runs BLAS on one thread (minircan/threads.py says why), so one np.matmul leaves the other cores idle.
NumPy releases the GIL inside a product, and so do the Numba kernels compiled with ``nogil=True``, so Python
threads each taking independent jobs (a block of Winograd tile rows, a few images of an im2col convolution:
transforms or lowering and products together) do run side by side. Each worker sets Numba to one thread
for itself (the setting is per thread): a Numba kernel inside a job then runs on its worker alone instead
of fanning out again.

Jobs are handed out one at a time as workers free up, so a worker whose core a busy neighbour took does
fewer of them instead of holding the others up. A job computes the same bits whichever worker runs it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numba

T = TypeVar("T")

_pools: dict[int, ThreadPoolExecutor] = {}


def _one_numba_thread() -> None:
    numba.set_num_threads(1)


def workers() -> int:
    """How many threads the kernels use: Numba's setting of the calling thread."""
    return numba.get_num_threads()


def run(job: Callable[..., T], args: Iterable[tuple]) -> list[T]:
    """[job(*a) for a in args], the jobs run on ``workers()`` pool threads when there are several threads and
    several jobs, otherwise here, one after the other (a job's Numba kernels then use the caller's threads).
    The results come in the order of ``args``."""
    args = list(args)
    n = min(workers(), len(args))
    if n <= 1:
        return [job(*a) for a in args]
    if n not in _pools:
        _pools[n] = ThreadPoolExecutor(max_workers=n, thread_name_prefix="minircan-kernels",
                                       initializer=_one_numba_thread)
    futures = [_pools[n].submit(job, *a) for a in args]
    return [f.result() for f in futures]
