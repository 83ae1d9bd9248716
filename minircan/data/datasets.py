"""Pairs of (HR, LR) images: the bundled samples, benchmark folders (Set5, ...) and DIV2K.

Every pair holds the HR image modcropped to a multiple of the scale and its LR image of exactly 1/scale the
size, both uint8 (H, W, 3). LR images come from ``degrade`` (MATLAB bicubic for BI), except for DIV2K, whose
official MATLAB-made LR files are used when they are on disk.
"""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .degradations import DEGRADATIONS, degrade
from .images import IMAGE_EXTENSIONS, list_images, read_image, write_image
from .imresize import modcrop

SAMPLE_TRAIN = ["astronaut", "brick", "camera", "grass", "gravel", "hubble_deep_field", "immunohistochemistry",
                "retina", "rocket"]
SAMPLE_VAL = ["chelsea", "coffee"]

DIV2K_LAYOUT = ("root/DIV2K_train_HR/0001.png ... 0800.png [0801-0900 in root/DIV2K_valid_HR], optionally "
                "root/DIV2K_train_LR_bicubic/X{s}/0001x{s}.png ... [root/DIV2K_valid_LR_bicubic/X{s}/...]")


@dataclass
class ImagePair:
    """One training or test image: hr uint8 (s*h, s*w, 3), modcropped; lr uint8 (h, w, 3)."""

    name: str
    hr: np.ndarray
    lr: np.ndarray


def _samples_folder() -> Path:
    # A plain folder both in the source tree and installed (setuptools package data), so a Path works.
    return Path(os.fspath(files("minircan") / "samples"))


def sample_images(split: str = "train") -> list[Path]:
    """The bundled sample PNGs of a split: "train" (SAMPLE_TRAIN), "val" (SAMPLE_VAL) or "all"."""
    names = {"train": SAMPLE_TRAIN, "val": SAMPLE_VAL, "all": sorted(SAMPLE_TRAIN + SAMPLE_VAL)}.get(split)
    if names is None:
        raise ValueError(f"unknown sample split {split!r}: expected 'train', 'val' or 'all'")
    folder = _samples_folder()
    paths = [folder / f"{name}.png" for name in names]
    for p in paths:
        if not p.is_file():
            raise FileNotFoundError(f"bundled sample {p} is missing (is minircan installed with its package data?)")
    return paths


def _check_degradation(degradation: str) -> None:
    if degradation not in DEGRADATIONS:
        raise ValueError(f"unknown degradation {degradation!r}: expected one of {', '.join(DEGRADATIONS)}")


def make_pairs(paths, scale: int, degradation: str = "BI") -> list[ImagePair]:
    """Read each image, modcrop it to the scale and degrade it: one ImagePair per path, named by its stem."""
    _check_degradation(degradation)
    pairs = []
    for p in paths:
        hr = modcrop(read_image(p), scale)
        pairs.append(ImagePair(Path(p).stem, np.ascontiguousarray(hr), degrade(hr, scale, degradation)))
    return pairs


def benchmark_pairs(folder: str | os.PathLike, scale: int, degradation: str = "BI") -> list[ImagePair]:
    """Every image of a folder of HR images (Set5, Set14, B100, Urban100, Manga109 as distributed), degraded.

    A folder holding no images but an ``HR`` subfolder (EDSR's benchmark layout) is read from that subfolder.
    """
    folder = Path(folder)
    if folder.is_dir() and not any(p.suffix.lower() in IMAGE_EXTENSIONS for p in folder.iterdir()):
        if (folder / "HR").is_dir():
            folder = folder / "HR"
    return make_pairs(list_images(folder), scale, degradation)


def _div2k_ids(folder: Path, first: int, last: int) -> list[tuple[str, Path]]:
    """(id, path) of the HR files of folder named 0001.png ... within first..last, sorted."""
    if not folder.is_dir():
        return []
    found = []
    for p in folder.iterdir():
        m = re.fullmatch(r"(\d{4})\.png", p.name, flags=re.IGNORECASE)
        if m and first <= int(m.group(1)) <= last:
            found.append((m.group(1), p))
    return sorted(found)


def _load_lr(path: Path, expected: tuple[int, ...], warn: bool) -> np.ndarray | None:
    """An LR image from disk, or None when it is absent, unreadable or not of the expected shape."""
    if not path.is_file():
        return None
    try:
        lr = read_image(path)
    except ValueError as e:
        problem = str(e)
    else:
        if lr.shape == expected:
            return lr
        problem = f"{path}: shape {lr.shape}, expected {expected}"
    if warn:
        warnings.warn(f"{problem}; making the LR image with degrade() instead", UserWarning, stacklevel=3)
    return None


def div2k_pairs(root: str | os.PathLike, scale: int, degradation: str = "BI", split: str = "train",
                cache: bool = True) -> list[ImagePair]:
    """DIV2K pairs: split "train" = images 0001-0800, "val" = 0801-0900.

    HR from ``root/DIV2K_train_HR`` (val: ``root/DIV2K_valid_HR``, or, without it, the 0801+ files of
    DIV2K_train_HR). For BI, the official LR file ``root/DIV2K_{train,valid}_LR_bicubic/X{s}/{id}x{s}.png`` is
    used when present and of the right size; otherwise the LR is made with ``degrade`` and, with cache=True,
    saved as ``root/minircan_cache/{degradation}_X{s}/{id}.png`` (atomic write) and read back on later calls.
    """
    _check_degradation(degradation)
    if split not in ("train", "val"):
        raise ValueError(f"unknown DIV2K split {split!r}: expected 'train' (0001-0800) or 'val' (0801-0900)")
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"no DIV2K folder at {root} (expected layout: {DIV2K_LAYOUT})")
    train_hr, valid_hr = root / "DIV2K_train_HR", root / "DIV2K_valid_HR"
    if split == "train":
        items = [(i, p, "train") for i, p in _div2k_ids(train_hr, 1, 800)]
    else:
        valid = _div2k_ids(valid_hr, 801, 900)
        items = [(i, p, "valid") for i, p in valid] or [(i, p, "train") for i, p in _div2k_ids(train_hr, 801, 900)]
    if not items:
        where = train_hr if split == "train" else f"{valid_hr} or {train_hr}"
        raise ValueError(f"no DIV2K {split} HR images in {where} (expected layout: {DIV2K_LAYOUT})")

    cache_dir = root / "minircan_cache" / f"{degradation}_X{scale}"
    pairs = []
    for image_id, hr_path, part in tqdm(items, desc=f"DIV2K {split} x{scale}", unit="img",
                                        disable=True if len(items) < 20 else None):
        hr = np.ascontiguousarray(modcrop(read_image(hr_path), scale))
        expected = (hr.shape[0] // scale, hr.shape[1] // scale, 3)
        lr = None
        if degradation == "BI":
            lr = _load_lr(root / f"DIV2K_{part}_LR_bicubic" / f"X{scale}" / f"{image_id}x{scale}.png", expected,
                          warn=True)
        if lr is None and cache:
            lr = _load_lr(cache_dir / f"{image_id}.png", expected, warn=False)  # a bad cache file is remade
        if lr is None:
            lr = degrade(hr, scale, degradation)
            if cache:
                write_image(cache_dir / f"{image_id}.png", lr)
        pairs.append(ImagePair(image_id, hr, lr))
    return pairs
