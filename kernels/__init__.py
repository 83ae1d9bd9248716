"""Hand-written kernels: pure array functions, one op a file, forward and backward together.

The CPU kernels are Numba; the GPU twins (CUDA C, launched through CuPy) sit beside them. Nothing here
knows about autograd: every function takes arrays and returns arrays. ``table.py`` lists, once, the kernels
a Device computes with (``KernelTable``); ``cpu.py``'s ``NumbaKernels`` and ``cuda.py``'s ``CudaKernels``
implement it. Installed, this folder is the package ``minircan.kernels``.

Threading: the Numba kernels run their ``prange`` loops on Numba's TBB layer when the ``tbb`` package is
installed (a dependency of minircan where TBB ships wheels), else on the ``workqueue`` layer;
``NUMBA_THREADING_LAYER`` overrides both. Why not the default: the conv kernels alternate a Numba loop
(im2col) with an OpenBLAS product on the same cores, and OpenMP's worker threads keep spinning after a
parallel loop ends and steal the cores from OpenBLAS (measured here: conv2d forward 144 ms with the OpenMP
layer against 16.5 ms with workqueue, on 2 cores). workqueue does not spin, but starting a parallel loop
costs it about 100 us (a ReLU of 1,000 elements: 106 us); TBB's does not spin for long either, and starts
a loop in under 2 us.
"""

import ctypes
import os

import numba


def _preload_tbb() -> None:
    # The tbb wheel puts libtbb in <prefix>/lib, where the dynamic loader does not look, so Numba's TBB
    # layer fails to load on its own. Loading it first, globally, lets the layer link against it.
    try:
        from importlib.metadata import PackageNotFoundError, files

        paths = files("tbb") or []
    except PackageNotFoundError:
        return
    for f in paths:
        if f.name in ("libtbb.so.12", "tbb12.dll"):
            try:
                ctypes.CDLL(str(f.locate()), mode=getattr(ctypes, "RTLD_GLOBAL", 0))
            except OSError:
                pass  # the layer then falls back to workqueue
            return


if "NUMBA_THREADING_LAYER" not in os.environ:
    _preload_tbb()
    # "default" takes the first layer of the priority list that loads; workqueue always does.
    numba.config.THREADING_LAYER_PRIORITY = ["tbb", "workqueue", "omp"]
    numba.config.THREADING_LAYER = "default"

from . import avg_pool, conv2d, pixel_shuffle, relu, sigmoid, winograd  # noqa: E402

__all__ = ["avg_pool", "conv2d", "pixel_shuffle", "relu", "sigmoid", "winograd"]
