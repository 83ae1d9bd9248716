"""Module and Parameter: the tree of layers, its parameters and its state dict (PyTorch's rules).

Attributes that are Parameters or Modules are registered in assignment order, so that
``named_parameters()`` and ``state_dict()`` list them as PyTorch would ("body.0.weight", ...) and a
PyTorch state dict of the same architecture loads key for key.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..device import Device
from ..device import device as _get_device
from ..device import to_numpy
from ..tensor import Tensor


# Functions called as hook(module, output) after every Module call (used by summary()).
_forward_hooks: list = []


class Parameter(Tensor):
    """A Tensor that a Module registers as one of its parameters (requires_grad=True by default)."""

    def __init__(self, data: Any, requires_grad: bool = True):
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class Module:
    """Base class of layers and models: subclasses set attributes in __init__ and define forward()."""

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}.__init__ must call super().__init__() before "
                                 f"assigning {name!r}")
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Register param under name; None records that the slot exists but is empty (e.g. no bias)."""
        if param is None:
            self._parameters.pop(name, None)
            object.__setattr__(self, name, None)
        else:
            setattr(self, name, param)

    def add_module(self, name: str, module: Module) -> None:
        setattr(self, name, module)

    # ----- calling --------------------------------------------------------------------------------
    def forward(self, *args: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        out = self.forward(*args, **kwargs)
        for hook in _forward_hooks:
            hook(self, out)
        return out

    # ----- the tree -------------------------------------------------------------------------------
    def named_children(self) -> Iterator[tuple[str, Module]]:
        yield from self._modules.items()

    def children(self) -> Iterator[Module]:
        for _, m in self.named_children():
            yield m

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """This module and every submodule, depth first, with dotted names ('' for this one)."""
        stack = [(prefix, self)]
        while stack:
            name, module = stack.pop()
            yield name, module
            children = [(f"{name}.{n}" if name else n, m) for n, m in module._modules.items()]
            stack.extend(reversed(children))

    def modules(self) -> Iterator[Module]:
        for _, m in self.named_modules():
            yield m

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        for mod_name, module in self.named_modules(prefix):
            for name, p in module._parameters.items():
                yield (f"{mod_name}.{name}" if mod_name else name), p

    def parameters(self) -> Iterator[Parameter]:
        for _, p in self.named_parameters():
            yield p

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def summary(self, input_shape: tuple, max_depth: int = 2):
        """A table of every submodule (down to max_depth) with its output shape, parameters and
        multiply-adds for one forward pass of an input of input_shape; ``print()`` it. See nn.summary."""
        from .summary import summary

        return summary(self, input_shape, max_depth=max_depth)

    # ----- state ----------------------------------------------------------------------------------
    def state_dict(self) -> OrderedDict[str, np.ndarray]:
        """Every parameter as a NumPy array (a copy), under its dotted name."""
        return OrderedDict((name, np.array(p.numpy(), copy=True)) for name, p in self.named_parameters())

    def load_state_dict(self, state_dict: dict, strict: bool = True) -> tuple[list[str], list[str]]:
        """Copy arrays into the parameters of the same names; returns (missing_keys, unexpected_keys).

        strict=True: any missing or unexpected key, or any shape mismatch, raises a KeyError/ValueError
        naming the keys (and both shapes). strict=False: loads every key whose shape matches and reports
        the rest (as the official RCAN does to start x3/x4 from x2).
        """
        own = dict(self.named_parameters())
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        mismatched = []
        for key, p in own.items():
            if key in state_dict:
                value = _to_host(state_dict[key])
                if tuple(value.shape) != p.shape:
                    mismatched.append(f"{key}: checkpoint {tuple(value.shape)} vs model {p.shape}")
        if strict and (missing or unexpected or mismatched):
            problems = []
            if missing:
                problems.append(f"missing keys {_listing(missing)}")
            if unexpected:
                problems.append(f"unexpected keys {_listing(unexpected)}")
            if mismatched:
                problems.append(f"shape mismatches {_listing(mismatched)}")
            fix = ("strict=False loads the keys that match" if not mismatched else
                   "the checkpoint was saved from another configuration: build the model with that "
                   "configuration (models.load_model reads it off the shapes), or pass strict=False to load "
                   "only the keys whose shapes match")
            raise ValueError(f"load_state_dict into {type(self).__name__}: " + "; ".join(problems) + f" ({fix})")
        for key, p in own.items():
            if key in state_dict:
                value = _to_host(state_dict[key])
                if tuple(value.shape) == p.shape:
                    p.data = p.device.xp.asarray(value.astype(p.dtype, copy=True))
        skipped = [m.split(":")[0] for m in mismatched]
        return missing + skipped, unexpected

    # ----- modes and gradients --------------------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self) -> Module:
        return self.train(False)

    def zero_grad(self) -> None:
        """Forget accumulated gradients (sets every .grad to None, as PyTorch does by default)."""
        for p in self.parameters():
            p.grad = None

    def requires_grad_(self, flag: bool = True) -> Module:
        for p in self.parameters():
            p.requires_grad = flag
        return self

    def to(self, device: str | Device) -> Module:
        """Move every parameter to device (in place), like torch."""
        dev = _get_device(device)
        for p in self.parameters():
            if p.device is not dev:
                p.data = dev.xp.asarray(p.numpy())
                p._device = dev
                p.grad = None
        return self

    def double(self) -> Module:
        """Cast every parameter to float64 (for gradient checks)."""
        for p in self.parameters():
            p.data = p.data.astype("float64")
        return self

    def float(self) -> Module:
        for p in self.parameters():
            p.data = p.data.astype("float32")
        return self

    # ----- printing -------------------------------------------------------------------------------
    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__}({self.extra_repr()}"]
        for name, m in self._modules.items():
            child = repr(m).replace("\n", "\n  ")
            lines.append(f"  ({name}): {child}")
        return lines[0] + ")" if len(lines) == 1 else "\n".join(lines) + "\n)"


def device_of_model(model: Any) -> Device:
    """Where a model computes: the device of its first parameter; the CPU for a module without parameters
    or a plain function (inference and summary feed their inputs there)."""
    params = getattr(model, "parameters", None)
    first = next(iter(params()), None) if params is not None else None
    return first.device if first is not None else _get_device("cpu")


def _to_host(value: Any) -> Any:
    if isinstance(value, Tensor):
        return value.numpy()
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch.Tensor
        return value.detach().cpu().numpy()
    return to_numpy(value)


def _listing(keys: list[str], most: int = 8) -> str:
    shown = ", ".join(keys[:most])
    return f"[{shown}{', ...' if len(keys) > most else ''}] ({len(keys)} in all)"
