"""Pooling layers."""

from .. import functional as F
from ..tensor import Tensor
from .module import Module


class AdaptiveAvgPool2d(Module):
    """Global average pooling (output_size=1 only): (N, C, H, W) -> (N, C, 1, 1)."""

    def __init__(self, output_size=1):
        super().__init__()
        if output_size not in (1, (1, 1)):
            raise ValueError(f"AdaptiveAvgPool2d: only output_size=1 is supported, got {output_size!r}")
        self.output_size = output_size

    def forward(self, x: Tensor) -> Tensor:
        return F.adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"
