"""Optimisers and learning-rate schedules with PyTorch's semantics (the same update, step for step)."""

from .adam import Adam
from .lr_scheduler import CosineAnnealingLR, StepLR
from .optimizer import Optimizer
from .sgd import SGD

__all__ = ["SGD", "Adam", "CosineAnnealingLR", "Optimizer", "StepLR"]
