"""``model.summary(input_shape)``: output shape, parameters and multiply-adds of every layer.

Runs one forward pass (without recording a graph) on random input of the given shape and notes each
module's output as it returns. Multiply-adds are counted for the layers that do arithmetic in proportion
to their size: a conv makes N * K * Ho * Wo * C * kh * kw of them; elementwise layers are not counted
(they are memory-bound, not arithmetic-bound). A container's row sums its descendants.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..autograd import no_grad
from ..tensor import Tensor
from . import module as _module
from .conv import Conv2d


@dataclass
class Row:
    name: str
    kind: str
    output_shape: tuple
    params: int
    macs: int


@dataclass
class Summary:
    model: str
    input_shape: tuple
    rows: list[Row] = field(default_factory=list)
    total_params: int = 0
    trainable_params: int = 0
    total_macs: int = 0

    def __str__(self) -> str:
        width = max([len(r.name) + 3 + len(r.kind) for r in self.rows] + [20])
        head = f"{'layer':<{width}}  {'output shape':<22}{'params':>14}{'mult-adds':>18}"
        lines = [f"{self.model} on input {self.input_shape}", head, "-" * len(head)]
        for r in self.rows:
            label = f"{r.name} ({r.kind})" if r.name else r.kind
            lines.append(f"{label:<{width}}  {str(r.output_shape):<22}{r.params:>14,}{r.macs:>18,}")
        lines += ["-" * len(head),
                  f"total parameters {self.total_params:,} (trainable {self.trainable_params:,}); "
                  f"multiply-adds {self.total_macs:,} ({self.total_macs / 1e9:.2f} G)"]
        return "\n".join(lines)


def summary(model: _module.Module, input_shape: tuple, max_depth: int = 2, dtype=np.float32) -> Summary:
    names = {id(m): n for n, m in model.named_modules()}
    outputs: dict[str, tuple] = {}
    macs: dict[str, int] = {}

    def hook(mod, out):
        name = names.get(id(mod))
        if name is None:
            return
        outputs[name] = tuple(out.shape)
        if isinstance(mod, Conv2d):
            n, k, ho, wo = out.shape
            kh, kw = mod.kernel_size
            macs[name] = n * k * ho * wo * mod.in_channels * kh * kw

    x = Tensor(np.random.default_rng(0).standard_normal(input_shape).astype(dtype),
               device=_module.device_of_model(model))
    _module._forward_hooks.append(hook)
    try:
        with no_grad():
            model(x)
    finally:
        _module._forward_hooks.remove(hook)

    result = Summary(type(model).__name__, tuple(input_shape))
    for name, mod in model.named_modules():
        depth = 0 if name == "" else name.count(".") + 1
        if name not in outputs or depth > max_depth or depth == 0:
            continue
        sub_macs = sum(v for k, v in macs.items() if k == name or k.startswith(name + "."))
        result.rows.append(Row(name, type(mod).__name__, outputs[name], mod.num_parameters(), sub_macs))
    result.total_params = model.num_parameters()
    result.trainable_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    result.total_macs = sum(macs.values())
    return result
