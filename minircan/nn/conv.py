"""Conv2d layer with PyTorch's default initialisation."""

from __future__ import annotations

import math

import numpy as np

from .. import functional as F
from ..random import generator
from ..tensor import Tensor
from .module import Module, Parameter


class Conv2d(Module):
    """weight (out_channels, in_channels, k, k) and bias (out_channels,).

    Initialisation as ``torch.nn.Conv2d``: kaiming_uniform_(a=sqrt(5)) for the weight, which works out
    to U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and the same bound for the bias; fan_in = in_channels * k * k.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 bias: bool = True, dtype=np.float32):
        super().__init__()
        kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = (kh, kw), stride, padding
        bound = 1.0 / math.sqrt(in_channels * kh * kw)
        rng = generator()
        self.weight = Parameter(rng.uniform(-bound, bound, (out_channels, in_channels, kh, kw)).astype(dtype))
        if bias:
            self.bias = Parameter(rng.uniform(-bound, bound, (out_channels,)).astype(dtype))
        else:
            self.register_parameter("bias", None)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding)

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}"
        if self.stride != 1:
            s += f", stride={self.stride}"
        if self.padding != 0:
            s += f", padding={self.padding}"
        return s + ("" if self.bias is not None else ", bias=False")
