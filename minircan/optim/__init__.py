"""Optimisers and learning-rate schedules with PyTorch's semantics (the same update, step for step)."""

from .adam import Adam
from .lr_scheduler import StepLR
from .optimizer import Optimizer
from .sgd import SGD

__all__ = ["SGD", "Adam", "Optimizer", "StepLR"]
