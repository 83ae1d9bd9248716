"""Hand-written kernels: pure array functions, one op a file, forward and backward together.

The CPU kernels are Numba; the GPU twins (CUDA C, launched through CuPy) sit beside them. Nothing here
knows about autograd: every function takes arrays and returns arrays. Installed, this folder is the
package ``minircan.kernels``.

Threading: the Numba kernels run their ``prange`` loops on Numba's ``workqueue`` layer unless
``NUMBA_THREADING_LAYER`` says otherwise. The conv kernels alternate a Numba loop (im2col) with an
OpenBLAS matrix product on the same cores; OpenMP worker threads keep spinning after a parallel loop ends
and steal the cores from OpenBLAS (measured here: conv2d forward 144 ms with the OpenMP layer, 16.5 ms
with workqueue, on 2 cores).
"""

import os

import numba

if "NUMBA_THREADING_LAYER" not in os.environ:
    numba.config.THREADING_LAYER = "workqueue"

from . import avg_pool, conv2d, pixel_shuffle, relu, sigmoid  # noqa: E402

__all__ = ["avg_pool", "conv2d", "pixel_shuffle", "relu", "sigmoid"]
