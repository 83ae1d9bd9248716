"""Numerical gradient checking: compare backward() with central differences, element by element.

For a function f of tensors with output y, draw a random upstream gradient u of y's shape and check the
scalar L = sum(y * u). (A random u catches index mistakes that an all-ones upstream, i.e. y.sum(), hides.)
For every element x_i of every input that requires a gradient:

    numerical_i  = (L(x_i + eps) - L(x_i - eps)) / (2 eps)          central difference, error O(eps^2)
    analytical_i = (dL/dx)_i from one backward pass

and the element passes when |analytical - numerical| <= atol + rtol * |numerical|. The report gives the
worst relative error |a - n| / max(|a|, |n|, atol) and where it is. Run it in float64: in float32 the
rounding error of L (about 1e-7 |L|) divided by 2 eps swamps the comparison.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .autograd import no_grad
from .tensor import Tensor


class GradcheckError(AssertionError):
    """Raised by gradcheck when an analytical gradient disagrees with the numerical one."""


@dataclass
class GradcheckResult:
    passed: bool
    max_rel_error: float
    input_index: int  # which input holds the worst element (-1: nothing was checked)
    element: tuple  # its index within that input
    analytical: float
    numerical: float
    checked: int  # number of elements compared

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        verdict = "passed" if self.passed else "FAILED"
        return (f"gradcheck {verdict}: {self.checked} elements, worst relative error {self.max_rel_error:.2e} "
                f"at input {self.input_index}{list(self.element)} (analytical {self.analytical:.10g}, "
                f"numerical {self.numerical:.10g})")


def gradcheck(fn: Callable[..., Tensor], inputs: Sequence[Tensor], eps: float = 1e-6, atol: float = 1e-5,
              rtol: float = 1e-3, seed: int = 0, raise_exception: bool = True) -> GradcheckResult:
    """Check the gradients of ``fn(*inputs)`` against central differences over every element.

    inputs: tensors (those with requires_grad=True are checked; others are held fixed). Returns a
    GradcheckResult, truthy when every element passed; raises GradcheckError on failure unless
    raise_exception=False. The defaults (eps 1e-6, atol 1e-5, rtol 1e-3) are torch.autograd.gradcheck's.
    """
    inputs = list(inputs)
    for i, t in enumerate(inputs):
        if isinstance(t, Tensor) and t.requires_grad and t.dtype != np.float64:
            raise ValueError(f"gradcheck: input {i} is {t.dtype}; use float64 (central differences in float32 "
                             "are dominated by rounding)")
    out = fn(*inputs)
    rng = np.random.default_rng(seed)
    upstream = rng.standard_normal(out.shape)
    for t in inputs:
        if isinstance(t, Tensor):
            t.grad = None
    out.backward(out.device.xp.asarray(upstream, dtype=out.dtype))

    def loss() -> float:
        with no_grad():
            return float(np.sum(fn(*inputs).numpy() * upstream))

    worst = GradcheckResult(True, 0.0, -1, (), 0.0, 0.0, 0)
    for i, t in enumerate(inputs):
        if not (isinstance(t, Tensor) and t.requires_grad):
            continue
        analytical = np.zeros(t.shape) if t.grad is None else t.grad.numpy().astype(np.float64)
        t.data = np.ascontiguousarray(t.data)  # so that the flat view below aliases the input
        flat = t.data.reshape(-1)  # a view: writing flat[k] perturbs the input in place
        numerical = np.empty(flat.size)
        for k in range(flat.size):
            orig = float(flat[k])
            flat[k] = orig + eps
            plus = loss()
            flat[k] = orig - eps
            minus = loss()
            flat[k] = orig
            numerical[k] = (plus - minus) / (2 * eps)
        a, n = analytical.reshape(-1), numerical
        diff = np.abs(a - n)
        rel = diff / np.maximum(np.maximum(np.abs(a), np.abs(n)), atol)
        k = int(np.argmax(rel))
        worst.checked += flat.size
        if rel[k] >= worst.max_rel_error:
            worst.max_rel_error, worst.input_index = float(rel[k]), i
            worst.element = np.unravel_index(k, t.shape)
            worst.analytical, worst.numerical = float(a[k]), float(n[k])
        if np.any(diff > atol + rtol * np.abs(n)):
            worst.passed = False
    worst.element = tuple(int(e) for e in worst.element)
    if not worst.passed and raise_exception:
        raise GradcheckError(str(worst))
    return worst
