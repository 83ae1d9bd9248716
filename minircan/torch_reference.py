"""A PyTorch RCAN, the reference that the parity tests and the benchmarks compare minircan with.

Written from the description of the official code (yulunzhang/RCAN, RCAN_TrainCode/code/model/rcan.py,
common.py) with its module nesting, so that its state_dict() has the official keys. Importing this module
needs PyTorch; nothing else in minircan imports it.
"""

import math

import torch
from torch import nn


def default_conv(cin, cout, k, bias=True):
    return nn.Conv2d(cin, cout, k, padding=k // 2, bias=bias)


class MeanShift(nn.Conv2d):
    def __init__(self, rgb_range, rgb_mean, sign):
        super().__init__(3, 3, kernel_size=1)
        self.weight.data = torch.eye(3).view(3, 3, 1, 1)
        self.bias.data = sign * rgb_range * torch.tensor(rgb_mean)
        for p in self.parameters():
            p.requires_grad = False


class CALayer(nn.Module):
    def __init__(self, channel, reduction=16):
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.conv_du = nn.Sequential(nn.Conv2d(channel, channel // reduction, 1, padding=0, bias=True),
                                     nn.ReLU(inplace=True),
                                     nn.Conv2d(channel // reduction, channel, 1, padding=0, bias=True), nn.Sigmoid())

    def forward(self, x):
        return x * self.conv_du(self.avg_pool(x))


class RCAB(nn.Module):
    def __init__(self, n_feat, reduction):
        super().__init__()
        self.body = nn.Sequential(default_conv(n_feat, n_feat, 3), nn.ReLU(True), default_conv(n_feat, n_feat, 3),
                                  CALayer(n_feat, reduction))

    def forward(self, x):
        return self.body(x) + x


class ResidualGroup(nn.Module):
    def __init__(self, n_feat, reduction, n_resblocks):
        super().__init__()
        self.body = nn.Sequential(*[RCAB(n_feat, reduction) for _ in range(n_resblocks)],
                                  default_conv(n_feat, n_feat, 3))

    def forward(self, x):
        return self.body(x) + x


class Upsampler(nn.Sequential):
    def __init__(self, scale, n_feat):
        m = []
        if scale & (scale - 1) == 0:
            for _ in range(int(math.log(scale, 2))):
                m += [default_conv(n_feat, 4 * n_feat, 3), nn.PixelShuffle(2)]
        else:
            m += [default_conv(n_feat, 9 * n_feat, 3), nn.PixelShuffle(3)]
        super().__init__(*m)


class TorchRCAN(nn.Module):
    def __init__(self, scale=2, n_resgroups=10, n_resblocks=20, n_feats=64, reduction=16, rgb_range=255):
        super().__init__()
        mean = (0.4488, 0.4371, 0.4040)
        self.sub_mean = MeanShift(rgb_range, mean, -1)
        self.add_mean = MeanShift(rgb_range, mean, 1)
        self.head = nn.Sequential(default_conv(3, n_feats, 3))
        self.body = nn.Sequential(*[ResidualGroup(n_feats, reduction, n_resblocks) for _ in range(n_resgroups)],
                                  default_conv(n_feats, n_feats, 3))
        self.tail = nn.Sequential(Upsampler(scale, n_feats), default_conv(n_feats, 3, 3))

    def forward(self, x):
        x = self.head(self.sub_mean(x))
        res = self.body(x) + x
        return self.add_mean(self.tail(res))
