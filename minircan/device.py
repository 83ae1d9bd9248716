"""Devices: the one place that knows where arrays live and which kernels compute on them.

A ``Device`` owns an array module (``xp``: NumPy on the CPU, CuPy on a GPU) and a kernel table (the
forward and backward kernels of every op). Ops ask their tensors' device for both and never branch on the
device themselves, so a new backend is a new table, nothing more.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType, SimpleNamespace

import numpy as np


@dataclass(frozen=True, eq=False)
class Device:
    """A place where tensors live: ``name`` ('cpu' or 'cuda'), its array module and its kernel table."""

    name: str
    xp: ModuleType
    kernels: SimpleNamespace

    def __repr__(self) -> str:
        return f"device(type='{self.name}')"

    def __str__(self) -> str:
        return self.name


def _cpu_kernels() -> SimpleNamespace:
    from . import kernels as k

    return SimpleNamespace(
        conv2d_forward=k.conv2d.forward,
        conv2d_backward_input=k.conv2d.backward_input,
        conv2d_backward_params=k.conv2d.backward_params,
        conv2d_backward_bias=k.conv2d.backward_bias,
        relu_forward=k.relu.forward,
        relu_backward=k.relu.backward,
        sigmoid_forward=k.sigmoid.forward,
        sigmoid_backward=k.sigmoid.backward,
        avg_pool_forward=k.avg_pool.forward,
        avg_pool_backward=k.avg_pool.backward,
        pixel_shuffle=k.pixel_shuffle.pixel_shuffle,
        pixel_unshuffle=k.pixel_shuffle.pixel_unshuffle,
    )


cpu = Device("cpu", np, _cpu_kernels())
_devices = {"cpu": cpu}


def device(spec: str | Device = "cpu") -> Device:
    """The Device for 'cpu' (or an existing Device, returned as is)."""
    if isinstance(spec, Device):
        return spec
    name = str(spec).split(":")[0]
    if name in _devices:
        return _devices[name]
    if name == "cuda":
        raise RuntimeError(
            "device 'cuda' is not available: this minircan has no GPU backend yet; use device='cpu'"
        )
    raise ValueError(f"unknown device {spec!r}: expected 'cpu' or 'cuda'")


def device_of(array) -> Device:
    """The Device that owns an array (NumPy arrays live on the CPU)."""
    if isinstance(array, np.ndarray) or np.isscalar(array):
        return cpu
    raise TypeError(f"minircan cannot hold an array of type {type(array).__name__}; use a NumPy array")
