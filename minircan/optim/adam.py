"""Adam, as ``torch.optim.Adam`` (not AdamW: weight decay is added to the gradient)."""

from __future__ import annotations

import math

from .optimizer import Optimizer


class Adam(Optimizer):
    """At step t, with g the gradient (plus weight_decay * p):
        m = m + (1 - b1) (g - m)            v = b2 v + (1 - b2) g^2
        p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
    The paper trains RCAN with lr 1e-4, betas (0.9, 0.999), eps 1e-8.
    """

    def __init__(self, params, lr: float = 1e-3, betas: tuple = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0):
        if lr < 0 or eps < 0 or not (0 <= betas[0] < 1 and 0 <= betas[1] < 1):
            raise ValueError(f"Adam: invalid hyper-parameters lr={lr}, betas={betas}, eps={eps}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay))

    def _update(self, p, grad, state, group):
        xp = p.device.xp
        b1, b2 = group["betas"]
        if group["weight_decay"]:
            grad = grad + group["weight_decay"] * p.data
        if not state:
            state["step"] = 0
            state["exp_avg"] = xp.zeros_like(p.data)
            state["exp_avg_sq"] = xp.zeros_like(p.data)
        state["step"] += 1
        t = state["step"]
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m += (1 - b1) * (grad - m)  # the same rounding as torch's lerp_ with weight < 0.5
        v *= b2
        v += (1 - b2) * grad * grad
        step_size = group["lr"] / (1 - b1**t)
        denom = xp.sqrt(v) / math.sqrt(1 - b2**t) + group["eps"]
        p.data -= step_size * (m / denom)
