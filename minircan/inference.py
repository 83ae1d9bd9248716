"""Applying a super-resolution model to whole images: plain, tiled, the official "chop", self-ensemble.

All functions take a model (LR (N, 3, h, w) -> SR (N, 3, h*s, w*s), values 0..255) and an LR image as a
float32 array (3, h, w), and return the SR image as a float32 array (3, h*s, w*s), unclamped. Nothing
here records a graph.

Tiling bounds the memory by the tile, not the image: the model sees overlapping LR tiles of ``tile`` pixels
and each output pixel is taken from the tile in which it lies farthest from an edge. RCAN's channel
attention averages over whatever it is shown, so a tiled result differs slightly from a whole-image pass
(less with larger tiles); ``chop`` reproduces the official code's split exactly (four quarters with a
10-pixel overlap, recursively until a quarter has fewer than 160,000 pixels), which the paper's numbers used.

``EVAL_TILE = "chop"`` is the one way scores are computed everywhere (training's validation, ``evaluate``'s
default, the comparison picture): the paper's protocol, and memory bounded on large images, so the same
weights print the same PSNR/SSIM in every command.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .autograd import no_grad
from .nn.module import device_of_model
from .tensor import Tensor

Model = Callable[[Tensor], Tensor]
EVAL_TILE = "chop"


def parse_tile(text: str) -> int | str:
    """A ``--tile`` value: "chop" (the official split), 0 (whole images) or N > 0 (tiles of N LR pixels).
    Raises ValueError otherwise (argparse turns it into a usage error)."""
    if str(text).strip().lower() == "chop":
        return "chop"
    try:
        tile = int(text)
    except ValueError:
        raise ValueError(f"--tile {text!r}: use chop, 0 (whole image) or a tile size in LR pixels") from None
    if tile < 0:
        raise ValueError(f"--tile {tile}: use chop, 0 (whole image) or a tile size in LR pixels")
    return tile


def _run(model: Model, lr: np.ndarray) -> np.ndarray:
    """model on one (3, h, w) or a batch (n, 3, h, w) of LR arrays, without a graph, on the model's device."""
    batch = lr if lr.ndim == 4 else lr[None]
    with no_grad():
        out = model(Tensor(np.ascontiguousarray(batch, dtype=np.float32), device=device_of_model(model))).numpy()
    return out if lr.ndim == 4 else out[0]


def upscale_whole(model: Model, lr: np.ndarray) -> np.ndarray:
    """One forward pass over the whole image."""
    return _run(model, lr)


def _tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    if length <= tile:
        return [0]
    step = tile - overlap
    starts = list(range(0, length - tile, step)) + [length - tile]
    return sorted(set(starts))


def upscale_tiled(model: Model, lr: np.ndarray, scale: int, tile: int = 128, overlap: int = 16) -> np.ndarray:
    """The SR image computed tile by tile: peak memory set by ``tile`` (LR pixels a side), not the image.

    Tiles overlap by ``overlap`` LR pixels; each output pixel comes from the tile whose centre region it
    is in (the seam sits in the middle of each overlap), so every pixel has at least overlap/2 pixels of
    context on each side that the tile could see.
    """
    if overlap < 0 or overlap >= tile:
        raise ValueError(f"tile overlap must be in [0, tile), got overlap={overlap} for tile={tile}")
    _, h, w = lr.shape
    out = np.empty((3, h * scale, w * scale), dtype=np.float32)
    ys, xs = _tile_starts(h, tile, overlap), _tile_starts(w, tile, overlap)
    for iy, y0 in enumerate(ys):
        y1 = min(h, y0 + tile)
        # Keep [k0, k1) of this tile: from the middle of the overlap with the previous tile to the middle
        # of the overlap with the next one.
        k0 = 0 if iy == 0 else (ys[iy - 1] + tile + y0) // 2
        k1 = h if iy == len(ys) - 1 else (y1 + ys[iy + 1]) // 2
        for ix, x0 in enumerate(xs):
            x1 = min(w, x0 + tile)
            j0 = 0 if ix == 0 else (xs[ix - 1] + tile + x0) // 2
            j1 = w if ix == len(xs) - 1 else (x1 + xs[ix + 1]) // 2
            sr = _run(model, lr[:, y0:y1, x0:x1])
            out[:, k0 * scale:k1 * scale, j0 * scale:j1 * scale] = \
                sr[:, (k0 - y0) * scale:(k1 - y0) * scale, (j0 - x0) * scale:(j1 - x0) * scale]
    return out


def upscale_chop(model: Model, lr: np.ndarray, scale: int, shave: int = 10, min_size: int = 160_000) -> np.ndarray:
    """The official ``forward_chop``: four overlapping quarters, recursively, assembled without the overlap."""
    _, h, w = lr.shape
    h_half, w_half = h // 2, w // 2
    # A quarter never reaches past the image (the official code's slices would, below 2 x shave pixels, and
    # then fail to assemble); for images of 19 pixels a side or more this is the official split unchanged.
    h_size, w_size = min(h_half + shave, h), min(w_half + shave, w)
    tiles = [lr[:, 0:h_size, 0:w_size], lr[:, 0:h_size, w - w_size:w],
             lr[:, h - h_size:h, 0:w_size], lr[:, h - h_size:h, w - w_size:w]]
    if w_size * h_size < min_size or (h_size >= h and w_size >= w):  # (the second: quarters no smaller)
        srs = [_run(model, t) for t in tiles]
    else:
        srs = [upscale_chop(model, t, scale, shave, min_size) for t in tiles]
    H, W = scale * h, scale * w
    Hh, Wh, Hs, Ws = scale * h_half, scale * w_half, scale * h_size, scale * w_size
    out = np.empty((3, H, W), dtype=np.float32)
    out[:, 0:Hh, 0:Wh] = srs[0][:, 0:Hh, 0:Wh]
    out[:, 0:Hh, Wh:W] = srs[1][:, 0:Hh, Ws - W + Wh:Ws]
    out[:, Hh:H, 0:Wh] = srs[2][:, Hs - H + Hh:Hs, 0:Wh]
    out[:, Hh:H, Wh:W] = srs[3][:, Hs - H + Hh:Hs, Ws - W + Wh:Ws]
    return out


def self_ensemble(upscale: Callable[[np.ndarray], np.ndarray], lr: np.ndarray) -> np.ndarray:
    """RCAN+: the mean of the SR images of the 8 flips/transposes of the input, each transformed back.

    ``upscale`` maps an LR (3, h, w) array to its SR array (whole, tiled or chopped).
    """
    total = None
    for transpose in (False, True):
        for flip_h in (False, True):
            for flip_w in (False, True):
                x = lr.transpose(0, 2, 1) if transpose else lr
                x = x[:, ::-1] if flip_h else x
                x = x[:, :, ::-1] if flip_w else x
                y = upscale(np.ascontiguousarray(x))
                y = y[:, :, ::-1] if flip_w else y  # undo in reverse order
                y = y[:, ::-1] if flip_h else y
                y = y.transpose(0, 2, 1) if transpose else y
                total = y.astype(np.float64) if total is None else total + y
    return (total / 8).astype(np.float32)


def upscale_image(model: Model, lr: np.ndarray, scale: int, tile: int | str = 0, overlap: int = 16,
                  ensemble: bool = False) -> np.ndarray:
    """SR of an LR (3, h, w) float array: tile=0 whole image, tile=N tiled, tile="chop" the official split."""
    if tile == "chop":
        def one(x):
            return upscale_chop(model, x, scale)
    elif tile:
        def one(x):
            return upscale_tiled(model, x, scale, int(tile), overlap)
    else:
        def one(x):
            return upscale_whole(model, x)
    return self_ensemble(one, lr) if ensemble else one(lr)


def super_resolve(model: Model, lr: np.ndarray, scale: int, tile: int | str = EVAL_TILE) -> np.ndarray:
    """uint8 (h, w, 3) LR -> uint8 (h*s, w*s, 3) SR, by the evaluation default (the official chop)."""
    return to_hwc_uint8(upscale_image(model, to_chw(lr), scale, tile=tile))


def bicubic(lr: np.ndarray, scale: int, shape: tuple) -> np.ndarray:
    """The bicubic baseline: MATLAB-exact imresize of uint8 LR by scale, cropped to the HR (h, w) shape."""
    from .data import imresize

    return imresize(lr, scale)[: shape[0], : shape[1]]


def to_chw(img: np.ndarray) -> np.ndarray:
    """uint8 (H, W, 3) -> float32 (3, H, W) on the 0..255 scale."""
    return np.ascontiguousarray(img.transpose(2, 0, 1), dtype=np.float32)


def to_hwc_uint8(sr: np.ndarray) -> np.ndarray:
    """float (3, H, W) -> uint8 (H, W, 3): clamped to 0..255 and rounded, as the official evaluation does."""
    return np.ascontiguousarray(np.clip(np.rint(sr), 0, 255).astype(np.uint8).transpose(1, 2, 0))
