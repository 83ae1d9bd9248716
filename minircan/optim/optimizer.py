"""Optimizer base: a list of parameters, hyper-parameters, per-parameter state, and its state dict."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import Any

import numpy as np

from ..device import to_numpy
from ..nn.module import Parameter


class Optimizer(ABC):
    """Holds ``params`` and ``defaults`` (hyper-parameters such as lr); ``state[i]`` belongs to params[i].

    One parameter group (PyTorch's ``param_groups`` has one entry, exposed for schedulers).
    """

    def __init__(self, params: Iterable[Parameter], defaults: dict[str, Any]):
        self.params = list(params)
        if not self.params:
            raise ValueError(f"{type(self).__name__} got an empty parameter list")
        self.param_groups = [dict(defaults, params=self.params)]
        self.state: list[dict[str, Any]] = [{} for _ in self.params]

    @property
    def lr(self) -> float:
        return self.param_groups[0]["lr"]

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        group = self.param_groups[0]
        for p, state in zip(self.params, self.state):
            if p.grad is not None:
                self._update(p, p.grad.data, state, group)

    @abstractmethod
    def _update(self, p: Parameter, grad: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        """Update one parameter in place from its gradient and its state (each optimiser's rule)."""

    def state_dict(self) -> dict[str, Any]:
        """Hyper-parameters and per-parameter state as NumPy arrays and numbers (for checkpoints)."""
        group = {k: v for k, v in self.param_groups[0].items() if k != "params"}
        state = [{k: (np.array(to_numpy(v)) if not np.isscalar(v) else v) for k, v in s.items()} for s in self.state]
        return {"param_group": group, "state": state}

    def load_state_dict(self, sd: dict[str, Any]) -> None:
        if len(sd["state"]) != len(self.params):
            raise ValueError(f"optimizer state has {len(sd['state'])} entries, the optimizer has "
                             f"{len(self.params)} parameters: it was saved for another model")
        self.param_groups[0].update(sd["param_group"])
        self.state = []
        for p, s in zip(self.params, sd["state"]):
            xp = p.device.xp
            self.state.append({k: (xp.asarray(v, dtype=p.dtype) if not np.isscalar(v) else v) for k, v in s.items()})

