"""Is there a GPU minircan can use? ``minircan.cuda.is_available()`` and, when not, exactly why.

Three things must be there: CuPy (``pip install 'minircan[gpu]'``), a CUDA driver with at least one GPU,
and NVRTC, the runtime compiler CuPy compiles the ``.cu`` kernels with (the ``gpu`` extra installs CuPy
with its CUDA toolkit libraries). ``import minircan`` never needs any of them.
"""

from __future__ import annotations

import functools


@functools.lru_cache(maxsize=1)
def unavailable_reason() -> str | None:
    """None when the GPU backend works here, else one sentence: what is missing and how to get it."""
    try:
        import cupy
    except ImportError:
        return ("CuPy is not installed: install minircan's GPU extra, pip install 'minircan[gpu]' "
                "(CuPy for CUDA 13), on a machine with an NVIDIA GPU")
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:  # CuPy raises CUDARuntimeError (no driver, no device) or an ImportError of libcuda
        return f"CuPy is installed but found no CUDA driver or GPU ({type(e).__name__}: {e}); use device='cpu'"
    if count == 0:
        return "CuPy is installed but this machine has no CUDA GPU; use device='cpu'"
    try:
        cupy.RawModule(code='extern "C" __global__ void probe(float* x) { x[0] = 1.0f; }').get_function("probe")
    except Exception as e:
        return (f"CuPy cannot compile CUDA kernels: NVRTC is missing or broken ({type(e).__name__}: {e}); "
                "pip install 'minircan[gpu]' installs CuPy with the CUDA libraries it compiles with")
    return None


def is_available() -> bool:
    """True when tensors can live on device 'cuda' (CuPy, a driver, a GPU and NVRTC are all there)."""
    return unavailable_reason() is None


def device_count() -> int:
    """The number of CUDA GPUs (0 when the backend is unavailable)."""
    if not is_available():
        return 0
    import cupy

    return int(cupy.cuda.runtime.getDeviceCount())
