"""Modules, named and behaving as in ``torch.nn``."""

from .activation import ReLU, Sigmoid
from .container import Sequential
from .conv import Conv2d
from .loss import L1Loss, MSELoss
from .module import Module, Parameter
from .pooling import AdaptiveAvgPool2d
from .shuffle import PixelShuffle, PixelUnshuffle

__all__ = [
    "AdaptiveAvgPool2d", "Conv2d", "L1Loss", "MSELoss", "Module", "Parameter", "PixelShuffle",
    "PixelUnshuffle", "ReLU", "Sequential", "Sigmoid",
]
