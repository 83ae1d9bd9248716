"""Learning-rate schedules: StepLR and CosineAnnealingLR, as in ``torch.optim.lr_scheduler``."""

from __future__ import annotations

import math

from .optimizer import Optimizer


class StepLR:
    """lr = base_lr * gamma ** (steps // step_size), where ``step()`` is called once per iteration (or
    epoch). The paper: base 1e-4, gamma 0.5, step_size 2e5 iterations."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1):
        if step_size < 1:
            raise ValueError(f"StepLR: step_size must be >= 1, got {step_size}")
        self.optimizer, self.step_size, self.gamma = optimizer, step_size, gamma
        self.base_lr = optimizer.param_groups[0]["lr"]
        self.last_epoch = 0

    def step(self) -> None:
        self.last_epoch += 1
        self.optimizer.param_groups[0]["lr"] = self.base_lr * self.gamma ** (self.last_epoch // self.step_size)

    def get_last_lr(self) -> list[float]:
        return [self.optimizer.param_groups[0]["lr"]]

    def state_dict(self) -> dict:
        return {"base_lr": self.base_lr, "last_epoch": self.last_epoch, "step_size": self.step_size,
                "gamma": self.gamma}

    def load_state_dict(self, sd: dict) -> None:
        self.base_lr, self.last_epoch = sd["base_lr"], sd["last_epoch"]
        self.step_size, self.gamma = sd["step_size"], sd["gamma"]


class CosineAnnealingLR:
    """lr = eta_min + (base_lr - eta_min) (1 + cos(pi t / T_max)) / 2 after t calls of ``step()``, as
    ``torch.optim.lr_scheduler.CosineAnnealingLR`` (closed form) for t <= T_max."""

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0):
        if T_max < 1:
            raise ValueError(f"CosineAnnealingLR: T_max must be >= 1, got {T_max}")
        self.optimizer, self.T_max, self.eta_min = optimizer, T_max, eta_min
        self.base_lr = optimizer.param_groups[0]["lr"]
        self.last_epoch = 0

    def step(self) -> None:
        self.last_epoch += 1
        t = min(self.last_epoch, self.T_max)
        lr = self.eta_min + (self.base_lr - self.eta_min) * (1 + math.cos(math.pi * t / self.T_max)) / 2
        self.optimizer.param_groups[0]["lr"] = lr

    def get_last_lr(self) -> list[float]:
        return [self.optimizer.param_groups[0]["lr"]]

    def state_dict(self) -> dict:
        return {"base_lr": self.base_lr, "last_epoch": self.last_epoch, "T_max": self.T_max, "eta_min": self.eta_min}

    def load_state_dict(self, sd: dict) -> None:
        self.base_lr, self.last_epoch = sd["base_lr"], sd["last_epoch"]
        self.T_max, self.eta_min = sd["T_max"], sd["eta_min"]
