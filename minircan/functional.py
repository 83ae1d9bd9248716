"""The functional API, named as ``torch.nn.functional`` (import as F). Checks its inputs, then applies the op.

Every check raises ``ValueError`` with a message that names the shapes involved and what to change.
"""

from __future__ import annotations

from .ops.activation import ReLU, Sigmoid
from .ops.conv import Conv2d
from .ops.loss import L1Loss, MSELoss
from .ops.pooling import GlobalAvgPool2d
from .ops.shuffle import PixelShuffle, PixelUnshuffle
from .tensor import Tensor


def _pair(name: str, value, minimum: int) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) and v >= minimum for v in pair):
        raise ValueError(f"conv2d: {name} must be an int >= {minimum} or a pair of them, got {value!r}")
    return pair


def _need_tensor(fn: str, name: str, t) -> None:
    if not isinstance(t, Tensor):
        raise TypeError(f"{fn}: {name} must be a minircan Tensor, got {type(t).__name__}; "
                        "wrap it with minircan.tensor(...)")


def _need_ndim(fn: str, name: str, t: Tensor, ndim: int, layout: str) -> None:
    if t.ndim != ndim:
        raise ValueError(f"{fn}: {name} must be {ndim}-D {layout}, got shape {t.shape}")


def _same_dtype(fn: str, *named: tuple[str, Tensor]) -> None:
    dtypes = {t.dtype for _, t in named}
    if len(dtypes) > 1:
        listing = ", ".join(f"{n} {t.dtype} {t.shape}" for n, t in named)
        raise ValueError(f"{fn}: dtypes differ ({listing}); use one dtype for all of them")


def conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0) -> Tensor:
    """2-D cross-correlation: x (N, C, H, W), weight (K, C, kh, kw), bias (K,) -> (N, K, Ho, Wo).

    Ho = (H + 2 padding - kh) // stride + 1. Zero padding; stride >= 1, padding >= 0 (ints or pairs).
    The algorithm (im2col or Winograd) is ``minircan.backends.conv_algorithm``'s choice, as in torch.backends.
    """
    _need_tensor("conv2d", "input", x)
    _need_tensor("conv2d", "weight", weight)
    _need_ndim("conv2d", "input", x, 4, "(N, C, H, W)")
    _need_ndim("conv2d", "weight", weight, 4, "(K, C, kh, kw)")
    stride, padding = _pair("stride", stride, 1), _pair("padding", padding, 0)
    N, C, H, W = x.shape
    K, Cw, kh, kw = weight.shape
    if Cw != C:
        raise ValueError(f"conv2d: input has {C} channels (shape {x.shape}) but weight expects {Cw} "
                         f"(shape {weight.shape}); the weight must be (K, {C}, kh, kw)")
    if kh > H + 2 * padding[0] or kw > W + 2 * padding[1]:
        raise ValueError(f"conv2d: kernel {kh}x{kw} (weight {weight.shape}) is bigger than the padded input "
                         f"{H + 2 * padding[0]}x{W + 2 * padding[1]} (input {x.shape}, padding {padding}); "
                         "use a larger input or more padding")
    named = [("input", x), ("weight", weight)]
    if bias is not None:
        _need_tensor("conv2d", "bias", bias)
        if bias.shape != (K,):
            raise ValueError(f"conv2d: bias must have shape ({K},) for weight {weight.shape}, got {bias.shape}")
        named.append(("bias", bias))
    _same_dtype("conv2d", *named)
    return Conv2d.apply(x, weight, bias, stride, padding)


def relu(x: Tensor) -> Tensor:
    """max(x, 0), elementwise."""
    _need_tensor("relu", "input", x)
    return ReLU.apply(x)


def sigmoid(x: Tensor) -> Tensor:
    """1 / (1 + exp(-x)), elementwise, stable for any x."""
    _need_tensor("sigmoid", "input", x)
    return Sigmoid.apply(x)


def adaptive_avg_pool2d(x: Tensor, output_size=1) -> Tensor:
    """Global average pooling: (N, C, H, W) -> (N, C, 1, 1). Only output_size 1 is supported."""
    _need_tensor("adaptive_avg_pool2d", "input", x)
    _need_ndim("adaptive_avg_pool2d", "input", x, 4, "(N, C, H, W)")
    if output_size not in (1, (1, 1)):
        raise ValueError(f"adaptive_avg_pool2d: only output_size=1 (global pooling) is supported, "
                         f"got {output_size!r}")
    return GlobalAvgPool2d.apply(x)


def _check_factor(fn: str, r) -> None:
    if not isinstance(r, int) or r < 1:
        raise ValueError(f"{fn}: the factor must be an int >= 1, got {r!r}")


def pixel_shuffle(x: Tensor, upscale_factor: int) -> Tensor:
    """(N, C r^2, H, W) -> (N, C, H r, W r): out[n, c, h r + i, w r + j] = x[n, c r^2 + i r + j, h, w]."""
    _need_tensor("pixel_shuffle", "input", x)
    _need_ndim("pixel_shuffle", "input", x, 4, "(N, C*r^2, H, W)")
    r = upscale_factor
    _check_factor("pixel_shuffle", r)
    if x.shape[1] % (r * r):
        raise ValueError(f"pixel_shuffle: input channels {x.shape[1]} (shape {x.shape}) are not divisible by "
                         f"upscale_factor^2 = {r * r}; the conv before it must output C*{r * r} channels")
    return PixelShuffle.apply(x, r)


def pixel_unshuffle(x: Tensor, downscale_factor: int) -> Tensor:
    """(N, C, H r, W r) -> (N, C r^2, H, W), the inverse of pixel_shuffle."""
    _need_tensor("pixel_unshuffle", "input", x)
    _need_ndim("pixel_unshuffle", "input", x, 4, "(N, C, H*r, W*r)")
    r = downscale_factor
    _check_factor("pixel_unshuffle", r)
    if x.shape[2] % r or x.shape[3] % r:
        raise ValueError(f"pixel_unshuffle: height and width of {x.shape} must be divisible by "
                         f"downscale_factor {r}; crop the input to a multiple of {r}")
    return PixelUnshuffle.apply(x, r)


def _check_loss(fn: str, x: Tensor, target: Tensor, reduction: str) -> None:
    _need_tensor(fn, "input", x)
    _need_tensor(fn, "target", target)
    if x.shape != target.shape:
        raise ValueError(f"{fn}: input shape {x.shape} and target shape {target.shape} differ")
    _same_dtype(fn, ("input", x), ("target", target))
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{fn}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def l1_loss(x: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Mean (or sum) absolute error: the paper's training loss."""
    _check_loss("l1_loss", x, target, reduction)
    return L1Loss.apply(x, target, reduction=reduction)


def mse_loss(x: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Mean (or sum) squared error."""
    _check_loss("mse_loss", x, target, reduction)
    return MSELoss.apply(x, target, reduction=reduction)
