"""Devices: the one place that knows where arrays live and which kernels compute on them.

A ``Device`` owns an array module (``xp``: NumPy on the CPU, CuPy on a GPU) and a kernel table (the
forward and backward kernels of every op: an object implementing ``KernelTable``, kernels/table.py). Ops ask
their tensors' device for both and never branch on the device themselves, so a new backend is a new table,
nothing more:

- ``cpu``: NumPy arrays, the Numba kernels (``NumbaKernels``, kernels/cpu.py);
- ``cuda``: CuPy arrays, the CUDA C kernels of kernels/*.cu launched through CuPy (``CudaKernels``,
  kernels/cuda.py); made on first use, and only where ``minircan.cuda.is_available()``.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

import numpy as np

from .kernels.cpu import NumbaKernels
from .kernels.table import KernelTable


@dataclass(frozen=True, eq=False)
class Device:
    """A place where tensors live: ``name`` ('cpu' or 'cuda'), its array module and its kernel table."""

    name: str
    xp: ModuleType
    kernels: KernelTable

    def __repr__(self) -> str:
        return f"device(type='{self.name}')"

    def __str__(self) -> str:
        return self.name

    def to_numpy(self, array) -> np.ndarray:
        """``array`` (of this device) as a NumPy array: the same array on the CPU, a copy from a GPU."""
        return np.asarray(array) if self.xp is np else self.xp.asnumpy(array)


def _cuda_device() -> Device:
    from . import cuda
    from .kernels.cuda import CudaKernels
    from .kernels.cupy_runtime import CupyRuntime

    reason = cuda.unavailable_reason()
    if reason is not None:
        raise RuntimeError(f"device 'cuda' is not available: {reason}")
    runtime = CupyRuntime()
    return Device("cuda", runtime.xp, CudaKernels(runtime))


cpu = Device("cpu", np, NumbaKernels())
_devices = {"cpu": cpu}


def made_devices() -> list[Device]:
    """The devices made so far in this program: cpu, and cuda once something asked for it."""
    return list(_devices.values())


def device(spec: str | Device = "cpu") -> Device:
    """The Device for 'cpu', 'cuda' (also 'cuda:0') or 'auto' (cuda where available, else cpu); a Device is
    returned as is."""
    if isinstance(spec, Device):
        return spec
    name = str(spec).split(":")[0]
    if name == "auto":
        from . import cuda

        name = "cuda" if cuda.is_available() else "cpu"
    if name == "cuda" and str(spec) not in ("cuda", "cuda:0", "auto"):
        raise ValueError(f"device {spec!r}: minircan uses one GPU, 'cuda' (the current CuPy device)")
    if name in _devices:
        return _devices[name]
    if name == "cuda":
        _devices["cuda"] = _cuda_device()
        return _devices["cuda"]
    raise ValueError(f"unknown device {spec!r}: expected 'cpu', 'cuda' or 'auto'")


def to_numpy(array) -> np.ndarray:
    """Any array (NumPy, CuPy, or anything np.asarray takes) as a NumPy array: the one way to bring an array
    to the host."""
    return device("cuda").to_numpy(array) if _is_cupy(array) else np.asarray(array)


def _is_cupy(array) -> bool:
    return type(array).__module__.split(".")[0] == "cupy"


def device_of(array) -> Device:
    """The Device that owns an array: NumPy arrays live on the CPU, CuPy arrays on 'cuda'."""
    if isinstance(array, np.ndarray) or np.isscalar(array):
        return cpu
    if _is_cupy(array):
        return device("cuda")
    raise TypeError(f"minircan cannot hold an array of type {type(array).__name__}; use a NumPy array")
