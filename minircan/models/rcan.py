"""RCAN (Zhang et al., ECCV 2018), module for module as the official code defines it.

The official code is yulunzhang/RCAN, RCAN_TrainCode/code/model/rcan.py and common.py. Every module
here is nested and named as there, so ``state_dict()`` has the official keys and the official
checkpoints load key for key:

    RCAN
    ├── sub_mean  MeanShift (1x1 conv 3->3, frozen)         x - 255 * rgb_mean
    ├── add_mean  MeanShift                                  x + 255 * rgb_mean
    ├── head      Sequential(conv3x3 3->C)
    ├── body      Sequential(ResidualGroup x G, conv3x3 C->C)          + head output (long skip)
    │             ResidualGroup.body = Sequential(RCAB x B, conv3x3)    + group input (short skip)
    │             RCAB.body = Sequential(conv3x3, ReLU, conv3x3, ChannelAttention)   + block input
    │             ChannelAttention: avg_pool, conv_du = Sequential(1x1 C->C/r, ReLU, 1x1 C/r->C, Sigmoid)
    └── tail      Sequential(Upsampler, conv3x3 C->3)
                  Upsampler: x2^k: k times [conv3x3 C->4C, PixelShuffle(2)];  x3: [conv3x3 C->9C, PixelShuffle(3)]

Input and output are RGB in [0, 255], NCHW; there is no clamp inside the model. Every conv has a bias;
3x3 convs use padding 1, 1x1 convs padding 0; no batch norm.
"""

from __future__ import annotations

import math

import numpy as np

from .. import nn
from ..tensor import Tensor

RGB_MEAN = (0.4488, 0.4371, 0.4040)  # DIV2K's mean colour, as in the official code

CONFIGS = {
    # The paper: G=10 residual groups of B=20 RCABs, 64 channels, reduction 16 (about 15.4M parameters at x2).
    "paper": dict(n_resgroups=10, n_resblocks=20, n_feats=64, reduction=16),
    # CPU-sized configurations for training in minutes (settled by the training issue's measurements).
    "small": dict(n_resgroups=3, n_resblocks=3, n_feats=32, reduction=8),
    "tiny": dict(n_resgroups=2, n_resblocks=2, n_feats=16, reduction=4),
}


def conv3x3(in_channels: int, out_channels: int) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 3, padding=1)


class MeanShift(nn.Conv2d):
    """A 1x1 conv 3->3 with identity weight and bias sign * rgb_range * rgb_mean; frozen (no gradient).

    The official code meant to freeze it but did not (it set ``self.requires_grad``, an attribute of the
    module), so official checkpoints may hold trained values: they are loaded like any other parameter.
    """

    def __init__(self, rgb_range: float = 255, rgb_mean: tuple = RGB_MEAN, sign: int = -1):
        super().__init__(3, 3, 1)
        self.weight = nn.Parameter(np.eye(3, dtype=np.float32).reshape(3, 3, 1, 1), requires_grad=False)
        self.bias = nn.Parameter(sign * rgb_range * np.asarray(rgb_mean, dtype=np.float32), requires_grad=False)


class ChannelAttention(nn.Module):
    """CALayer: y = x * sigmoid(W2 relu(W1 avgpool(x) + b1) + b2), one weight per channel.

    x (N, C, H, W) -> pooled (N, C, 1, 1) -> (N, C/r, 1, 1) -> (N, C, 1, 1) in (0, 1) -> x rescaled.
    """

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        if channels // reduction < 1:
            raise ValueError(f"ChannelAttention: {channels} channels with reduction {reduction} leaves no "
                             f"channel in the bottleneck; use reduction <= {channels}")
        # BEGIN SOLUTION (task 5)
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.conv_du = nn.Sequential(
            nn.Conv2d(channels, channels // reduction, 1), nn.ReLU(),
            nn.Conv2d(channels // reduction, channels, 1), nn.Sigmoid(),
        )
        # END SOLUTION

    def weights(self, x: Tensor) -> Tensor:
        """The per-channel attention weights, (N, C, 1, 1) in (0, 1)."""
        # BEGIN SOLUTION (task 5)
        return self.conv_du(self.avg_pool(x))
        # END SOLUTION

    def forward(self, x: Tensor) -> Tensor:
        # BEGIN SOLUTION (task 5)
        return x * self.weights(x)
        # END SOLUTION


class RCAB(nn.Module):
    """Residual channel attention block: x + CA(conv(relu(conv(x)))), no residual scaling."""

    def __init__(self, n_feats: int, reduction: int):
        super().__init__()
        # BEGIN SOLUTION (task 5)
        self.body = nn.Sequential(conv3x3(n_feats, n_feats), nn.ReLU(), conv3x3(n_feats, n_feats),
                                  ChannelAttention(n_feats, reduction))
        # END SOLUTION

    def forward(self, x: Tensor) -> Tensor:
        # BEGIN SOLUTION (task 5)
        return self.body(x) + x
        # END SOLUTION


class ResidualGroup(nn.Module):
    """B RCABs and a conv3x3, plus the group's input (the short skip connection)."""

    def __init__(self, n_feats: int, reduction: int, n_resblocks: int):
        super().__init__()
        blocks = [RCAB(n_feats, reduction) for _ in range(n_resblocks)]
        self.body = nn.Sequential(*blocks, conv3x3(n_feats, n_feats))

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x) + x


class Upsampler(nn.Sequential):
    """scale 2, 4, 8: log2(scale) x [conv3x3 C->4C, PixelShuffle(2)]; scale 3: [conv3x3 C->9C, PixelShuffle(3)]."""

    def __init__(self, scale: int, n_feats: int):
        if scale in (2, 4, 8):
            layers = []
            for _ in range(int(math.log2(scale))):
                layers += [conv3x3(n_feats, 4 * n_feats), nn.PixelShuffle(2)]
        elif scale == 3:
            layers = [conv3x3(n_feats, 9 * n_feats), nn.PixelShuffle(3)]
        else:
            raise ValueError(f"RCAN upsamples by 2, 3, 4 or 8, not {scale}")
        super().__init__(*layers)


class RCAN(nn.Module):
    """Residual channel attention network: (N, 3, H, W) in [0, 255] -> (N, 3, H*scale, W*scale).

    ``RCAN.from_config("tiny", scale=2)`` builds a named configuration (see CONFIGS).
    """

    def __init__(self, scale: int = 2, n_resgroups: int = 10, n_resblocks: int = 20, n_feats: int = 64,
                 reduction: int = 16, rgb_range: float = 255):
        super().__init__()
        self.config = dict(scale=scale, n_resgroups=n_resgroups, n_resblocks=n_resblocks, n_feats=n_feats,
                           reduction=reduction, rgb_range=rgb_range)
        self.scale = scale
        # Registration order as in the official module: sub_mean, add_mean, head, body, tail.
        self.sub_mean = MeanShift(rgb_range, RGB_MEAN, -1)
        self.add_mean = MeanShift(rgb_range, RGB_MEAN, +1)
        self.head = nn.Sequential(conv3x3(3, n_feats))
        groups = [ResidualGroup(n_feats, reduction, n_resblocks) for _ in range(n_resgroups)]
        self.body = nn.Sequential(*groups, conv3x3(n_feats, n_feats))
        self.tail = nn.Sequential(Upsampler(scale, n_feats), conv3x3(n_feats, 3))

    @classmethod
    def from_config(cls, name: str, scale: int = 2, **overrides) -> RCAN:
        if name not in CONFIGS:
            raise ValueError(f"unknown RCAN configuration {name!r}; choose one of {sorted(CONFIGS)}")
        return cls(scale=scale, **{**CONFIGS[name], **overrides})

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"RCAN expects RGB images as (N, 3, H, W) on the 0-255 scale, got shape {x.shape}")
        x = self.head(self.sub_mean(x))
        res = self.body(x) + x  # long skip connection
        return self.add_mean(self.tail(res))

    def extra_repr(self) -> str:
        c = self.config
        return (f"scale={c['scale']}, n_resgroups={c['n_resgroups']}, n_resblocks={c['n_resblocks']}, "
                f"n_feats={c['n_feats']}, reduction={c['reduction']}")
