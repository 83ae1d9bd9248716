"""Runs the CUDA kernels on a GPU: each ``.cu`` file compiled once by NVRTC (``cupy.RawModule``), arrays in CuPy.

NVRTC compiles for the GPU in use at first launch (CuPy caches the result on disk); ``nvcc -ptx`` for
sm_75 and sm_90 is the tests' compile check where nvcc exists. The interface is the emulator's:
``xp``, ``empty`` and ``launch``.
"""

from __future__ import annotations

from . import cu_source


class CupyRuntime:
    """Launches kernels with CuPy; raises ImportError when CuPy is missing (minircan.cuda says why)."""

    name = "cuda"

    def __init__(self):
        import cupy

        self.xp = cupy
        self._modules: dict = {}

    def empty(self, shape: tuple, dtype):
        return self.xp.empty(shape, dtype=dtype)

    def module(self, source: str):
        if source not in self._modules:
            self._modules[source] = self.xp.RawModule(code=cu_source.read(source))
        return self._modules[source]

    def launch(self, source: str, kernel: str, grid: tuple, block: tuple, args: tuple) -> None:
        """kernel<<<grid, block>>>(*args) on the current CUDA stream; arrays by pointer, NumPy scalars by value."""
        self.module(source).get_function(kernel)(tuple(grid), tuple(block), tuple(args))
