"""Random training patches, as the official ``data/common.py`` draws them (get_patch, then augment).

For each of the B samples of a batch: an image k ~ U{0..n-1}; an LR crop of p x p at ix ~ U{0..w-p},
iy ~ U{0..h-p}; the HR crop of (s p) x (s p) at (s ix, s iy), so that the HR patch is exactly the region
the LR patch was made from. Augmentation applies the same transform to both: hflip (p = 1/2), vflip (1/2),
transpose (1/2), which together give the 8 symmetries of the square with equal probability.

Note: ``patch_size`` is the **LR** patch size (48 in the paper); the official ``--patch_size`` is the HR one.
"""

from __future__ import annotations

import numpy as np

from .datasets import ImagePair


def _plain(value):
    """NumPy scalars inside a bit generator's state -> Python ints, so that it is JSON-serialisable."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, np.integer):
        return int(value)
    return value


class PatchSampler:
    """Draws batches of (LR, HR) patches: float32 NCHW, values 0..255 (not normalised), from its own generator.

    next_batch() -> (lr (B, 3, p, p), hr (B, 3, s p, s p)). ``state()`` / ``set_state()`` save and restore the
    generator, so a resumed run draws the same batches as an uninterrupted one.
    """

    def __init__(self, pairs: list[ImagePair], scale: int, patch_size: int = 48, batch_size: int = 16,
                 seed: int = 0, augment: bool = True):
        if not pairs:
            raise ValueError("PatchSampler needs at least one image pair, got none")
        if patch_size < 1 or batch_size < 1:
            raise ValueError(f"patch_size and batch_size must be positive, got {patch_size} and {batch_size}")
        for pair in pairs:
            h, w = pair.lr.shape[:2]
            if pair.hr.shape[:2] != (h * scale, w * scale):
                raise ValueError(f"image {pair.name!r}: HR {pair.hr.shape[:2]} is not {scale} x LR {(h, w)}")
            if h < patch_size or w < patch_size:
                raise ValueError(f"image {pair.name!r} is {w}x{h} pixels at LR (x{scale}), smaller than the "
                                 f"{patch_size}x{patch_size} LR patch: use a smaller --patch-size "
                                 f"(at most {min(h, w)}) or drop the image")
        self.pairs = pairs
        self.scale = scale
        self.patch_size = patch_size
        self.batch_size = batch_size
        self.augment = augment
        self._rng = np.random.Generator(np.random.PCG64(seed))

    def sample(self) -> tuple[np.ndarray, np.ndarray]:
        """One (LR (p, p, 3), HR (s p, s p, 3)) uint8 patch pair, HWC views into the images (transformed)."""
        p, s, rng = self.patch_size, self.scale, self._rng
        pair = self.pairs[int(rng.integers(len(self.pairs)))]
        h, w = pair.lr.shape[:2]
        ix = int(rng.integers(0, w - p + 1))
        iy = int(rng.integers(0, h - p + 1))
        lr = pair.lr[iy:iy + p, ix:ix + p]
        hr = pair.hr[s * iy:s * (iy + p), s * ix:s * (ix + p)]
        if self.augment:
            hflip, vflip, transpose = (rng.random(3) < 0.5).tolist()
            if hflip:  # mirror left-right
                lr, hr = lr[:, ::-1], hr[:, ::-1]
            if vflip:  # mirror top-bottom
                lr, hr = lr[::-1], hr[::-1]
            if transpose:  # swap rows and columns
                lr, hr = lr.transpose(1, 0, 2), hr.transpose(1, 0, 2)
        return lr, hr

    def next_batch(self) -> tuple[np.ndarray, np.ndarray]:
        """(LR float32 (B, 3, p, p), HR float32 (B, 3, s p, s p)), values 0..255."""
        p, sp, b = self.patch_size, self.patch_size * self.scale, self.batch_size
        lr_batch = np.empty((b, 3, p, p), dtype=np.float32)
        hr_batch = np.empty((b, 3, sp, sp), dtype=np.float32)
        for n in range(b):
            lr, hr = self.sample()
            lr_batch[n] = lr.transpose(2, 0, 1)   # HWC -> CHW, converted to float32 by the assignment
            hr_batch[n] = hr.transpose(2, 0, 1)
        return lr_batch, hr_batch

    def state(self) -> dict:
        """The generator's state (PCG64), JSON-serialisable."""
        return _plain(self._rng.bit_generator.state)

    def set_state(self, state: dict) -> None:
        """Restore a state from ``state()``: the next batches are the ones drawn after it was taken."""
        if not isinstance(state, dict) or state.get("bit_generator") != "PCG64":
            raise ValueError(f"not a PatchSampler state (expected a PCG64 bit generator state), got {state!r}")
        self._rng.bit_generator.state = state
