"""Tensor: an array on a device, plus what autograd needs (requires_grad, grad, the node that made it)."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import random as _random
from .device import Device, device_of
from .device import device as _get_device

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


class Tensor:
    """An n-dimensional array that records the operations made on it.

    ``data`` is the array (NumPy on the CPU), ``grad`` a Tensor filled by ``backward()`` for leaves with
    ``requires_grad=True``. Floating data keep their dtype (float32 or float64); anything else becomes
    float32, minircan's default.
    """

    __array_priority__ = 1000  # so that ndarray * Tensor calls Tensor.__rmul__

    def __init__(self, data: Any, requires_grad: bool = False, device: str | Device | None = None,
                 dtype: Any = None):
        if isinstance(data, Tensor):
            data = data.data
        dev = _get_device(device) if device is not None else _infer_device(data)
        xp = dev.xp
        if dtype is None:
            # (np.dtype(...) == None is True in NumPy, so test for a dtype attribute first)
            has_float_dtype = hasattr(data, "dtype") and data.dtype in _FLOAT_DTYPES
            dtype = data.dtype if has_float_dtype else np.float32
        dtype = np.dtype(dtype)
        if dtype not in _FLOAT_DTYPES:
            raise ValueError(f"minircan tensors are float32 or float64, not {dtype}")
        self.data = xp.asarray(data, dtype=dtype)
        self.requires_grad = bool(requires_grad)
        self.grad: Tensor | None = None
        self._node = None  # the Function call that produced this tensor; None for a leaf
        self._device = dev

    # ----- properties -----------------------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        return tuple(self.data.shape)

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def device(self) -> Device:
        return self._device

    @property
    def is_leaf(self) -> bool:
        return self._node is None

    @property
    def grad_fn(self):
        """The graph node (Function instance) that made this tensor, None for a leaf."""
        return self._node

    def numel(self) -> int:
        return int(self.data.size)

    def size(self, dim: int | None = None):
        return self.shape if dim is None else self.shape[dim]

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        extra = ", requires_grad=True" if self.requires_grad else ""
        if self._node is not None:
            extra = f", grad_fn=<{type(self._node).__name__}>"
        dev = "" if self.device.name == "cpu" else f", device='{self.device}'"
        body = np.array2string(self.numpy(), separator=", ", prefix="tensor(")
        return f"tensor({body}, dtype={self.dtype}{dev}{extra})"

    # ----- conversion -----------------------------------------------------------------------------
    def numpy(self) -> np.ndarray:
        """The data as a NumPy array (shared with the tensor on the CPU, copied from a GPU)."""
        return self.device.to_numpy(self.data)

    def item(self) -> float:
        if self.data.size != 1:
            raise ValueError(f"item() needs a single-element tensor, got shape {self.shape}")
        return float(self.numpy().reshape(()))

    def detach(self) -> Tensor:
        """A new leaf sharing this tensor's data, cut from the graph."""
        return Tensor(self.data, device=self.device)

    def to(self, device: str | Device) -> Tensor:
        """This tensor on another device (a copy), or itself when already there."""
        dev = _get_device(device)
        if dev is self.device:
            return self
        host = self.numpy()
        return Tensor(dev.xp.asarray(host), requires_grad=self.requires_grad, device=dev)

    def requires_grad_(self, flag: bool = True) -> Tensor:
        if not self.is_leaf:
            raise RuntimeError("requires_grad_ can only change leaf tensors; use .detach() first")
        self.requires_grad = flag
        return self

    # ----- autograd -------------------------------------------------------------------------------
    def backward(self, grad: Any = None, retain_graph: bool = False) -> None:
        """Backpropagate from this tensor: leaves with requires_grad get their ``.grad`` summed into."""
        from .autograd import backward

        backward(self, grad, retain_graph=retain_graph)

    # ----- arithmetic (NumPy broadcasting; gradients summed back to each operand's shape) ----------
    def __add__(self, other):
        return _ops.Add.apply(self, _lift(other, self))

    def __radd__(self, other):
        return _ops.Add.apply(_lift(other, self), self)

    def __sub__(self, other):
        return _ops.Sub.apply(self, _lift(other, self))

    def __rsub__(self, other):
        return _ops.Sub.apply(_lift(other, self), self)

    def __mul__(self, other):
        return _ops.Mul.apply(self, _lift(other, self))

    def __rmul__(self, other):
        return _ops.Mul.apply(_lift(other, self), self)

    def __truediv__(self, other):
        return _ops.Div.apply(self, _lift(other, self))

    def __rtruediv__(self, other):
        return _ops.Div.apply(_lift(other, self), self)

    def __neg__(self):
        return _ops.Neg.apply(self)

    def __pow__(self, exponent: float):
        if isinstance(exponent, Tensor):
            raise TypeError("only a number exponent is supported: tensor ** 2.0")
        return _ops.Pow.apply(self, float(exponent))

    def sum(self, axis=None, keepdims: bool = False) -> Tensor:
        return _ops.Sum.apply(self, axis=axis, keepdims=keepdims)

    def mean(self, axis=None, keepdims: bool = False) -> Tensor:
        return _ops.Mean.apply(self, axis=axis, keepdims=keepdims)

    def abs(self) -> Tensor:
        return _ops.Abs.apply(self)

    def reshape(self, *shape) -> Tensor:
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return _ops.Reshape.apply(self, shape=shape)

    def view(self, *shape) -> Tensor:
        return self.reshape(*shape)

    def relu(self) -> Tensor:
        return _activation.ReLU.apply(self)

    def sigmoid(self) -> Tensor:
        return _activation.Sigmoid.apply(self)


def _infer_device(data: Any) -> Device:
    if isinstance(data, (list, tuple, int, float)):
        return _get_device("cpu")
    return device_of(data)


def _lift(value: Any, like: Tensor) -> Tensor:
    """A number (Python or NumPy scalar, or 0-d array) as a constant tensor of ``like``'s dtype and device;
    any other array as a constant tensor of its own dtype and device (so that mixing float32 and float64
    arrays, or a NumPy array with a GPU tensor, is an error, not a silent cast or copy); a Tensor as is."""
    if isinstance(value, Tensor):
        return value
    if np.ndim(value) == 0:
        return Tensor(like.device.xp.asarray(value, dtype=like.dtype), device=like.device)
    return Tensor(value)


# ----- constructors ---------------------------------------------------------------------------------


def tensor(data: Any, requires_grad: bool = False, dtype: Any = None, device: str | Device | None = None) -> Tensor:
    """A new leaf tensor from an array or nested lists (float32 unless the data are float64)."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype, device=device)


def zeros(*shape, dtype: Any = np.float32, requires_grad: bool = False) -> Tensor:
    return Tensor(np.zeros(_shape(shape), dtype=dtype), requires_grad=requires_grad)


def ones(*shape, dtype: Any = np.float32, requires_grad: bool = False) -> Tensor:
    return Tensor(np.ones(_shape(shape), dtype=dtype), requires_grad=requires_grad)


def randn(*shape, dtype: Any = np.float32, requires_grad: bool = False) -> Tensor:
    """Standard normal samples from minircan's generator (see ``manual_seed``)."""
    data = _random.generator().standard_normal(_shape(shape)).astype(dtype)
    return Tensor(data, requires_grad=requires_grad)


def rand(*shape, dtype: Any = np.float32, requires_grad: bool = False) -> Tensor:
    """Uniform samples in [0, 1) from minircan's generator."""
    data = _random.generator().random(_shape(shape)).astype(dtype)
    return Tensor(data, requires_grad=requires_grad)


def _shape(shape: tuple) -> tuple:
    return tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else tuple(shape)


# The ops import Function from autograd, which imports Tensor from here: bind them once Tensor exists.
from .ops import activation as _activation  # noqa: E402
from .ops import arithmetic as _ops  # noqa: E402
