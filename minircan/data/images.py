"""Reading and writing images as uint8 RGB arrays (H, W, 3), the only image format the rest of minircan sees.

Reading follows the official pipeline: grey images are replicated to three channels (MATLAB's
``cat(3, im, im, im)``), palette images expanded to RGB, 16-bit grey scaled to 8 bits, and an alpha channel
dropped (with a warning; ``read_image_with_alpha`` keeps it for upscaling RGBA files). Errors name the file.
"""

from __future__ import annotations

import os
import uuid
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp")
_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".bmp": "BMP"}


def _decode(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray | None]:
    """(RGB uint8 (H, W, 3), alpha uint8 (H, W) or None) of an image file, fully decoded."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no image at {path}")
    try:
        with Image.open(path) as img:
            img.load()  # decode every byte now: Image.open only reads the header, so truncation shows up here
            return _to_rgb_alpha(img)
    except UnidentifiedImageError as e:
        raise ValueError(f"{path}: not an image file Pillow can read ({e})") from None
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        raise
    except (OSError, SyntaxError, EOFError) as e:  # what Pillow raises on truncated or corrupt data
        raise ValueError(f"{path}: the image is truncated or corrupt ({e})") from None


def _to_rgb_alpha(img: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    mode = img.mode
    if mode == "P":  # palette: its transparency, if any, is an alpha channel
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
        mode = img.mode
    elif mode in ("PA", "RGBa", "La"):
        img = img.convert("RGBA")
        mode = "RGBA"
    elif mode == "L" and "transparency" in img.info:  # grey PNG with a transparent grey value
        img = img.convert("LA")
        mode = "LA"

    if mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        # 16-bit grey (Pillow opens 16-bit PNGs as I / I;16): 0..65535 -> 0..255, rounded.
        grey = np.asarray(img, dtype=np.float64)
        grey = np.clip(np.rint(grey / 257.0), 0, 255).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2), None
    if mode in ("1", "L"):
        grey = np.asarray(img.convert("L"), dtype=np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2), None
    if mode == "LA":
        la = np.asarray(img, dtype=np.uint8)
        return np.repeat(la[:, :, :1], 3, axis=2), np.ascontiguousarray(la[:, :, 1])
    if mode == "RGBA":
        rgba = np.asarray(img, dtype=np.uint8)
        return np.ascontiguousarray(rgba[:, :, :3]), np.ascontiguousarray(rgba[:, :, 3])
    return np.asarray(img.convert("RGB"), dtype=np.uint8).copy(), None


def read_image(path: str | os.PathLike) -> np.ndarray:
    """The image at path as uint8 RGB (H, W, 3); grey is replicated to 3 channels, alpha dropped with a warning."""
    rgb, alpha = _decode(path)
    if alpha is not None:
        warnings.warn(f"{os.fspath(path)}: alpha channel dropped (the RGB values are used as stored, not "
                      "composited; use read_image_with_alpha to keep it)", UserWarning, stacklevel=2)
    return rgb


def read_image_with_alpha(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray | None]:
    """(RGB uint8 (H, W, 3), alpha uint8 (H, W) or None when the file has no alpha channel)."""
    return _decode(path)


def write_image(path: str | os.PathLike, rgb: np.ndarray, alpha: np.ndarray | None = None) -> None:
    """Write uint8 RGB (H, W, 3), plus alpha (H, W) as RGBA, to path; format from the extension (png, jpg, bmp).

    Parent folders are created. The file is written under a temporary name in the same folder and renamed
    over the target (os.replace), so a reader never sees a half-written image.
    """
    path = Path(path)
    ext = path.suffix.lower()
    if ext not in _FORMATS:
        raise ValueError(f"{path}: unknown image extension {path.suffix!r}, expected one of {IMAGE_EXTENSIONS}")
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"write_image expects a uint8 (H, W, 3) array, got {rgb.dtype} of shape {rgb.shape} "
                         "(quantize float images first)")
    if alpha is not None:
        alpha = np.asarray(alpha)
        if alpha.dtype != np.uint8 or alpha.shape != rgb.shape[:2]:
            raise ValueError(f"write_image expects a uint8 alpha of shape {rgb.shape[:2]}, got {alpha.dtype} "
                             f"of shape {alpha.shape}")
        if _FORMATS[ext] == "JPEG":
            raise ValueError(f"{path}: JPEG cannot store an alpha channel; write a .png")
        image = Image.fromarray(np.dstack([rgb, alpha]))  # (H, W, 4) uint8: RGBA
    else:
        image = Image.fromarray(np.ascontiguousarray(rgb))  # (H, W, 3) uint8: RGB

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex[:8]}.tmp"
    # os.open with mode 0o666 respects the umask (tempfile.mkstemp would leave the image readable by us only).
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            options = {"quality": 95} if _FORMATS[ext] == "JPEG" else {}
            image.save(f, format=_FORMATS[ext], **options)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if tmp.exists():
            tmp.unlink()
        raise


def list_images(folder: str | os.PathLike) -> list[Path]:
    """The image files (IMAGE_EXTENSIONS, any case) directly in folder, sorted by name; hidden files skipped."""
    folder = Path(folder)
    if not folder.exists():
        raise FileNotFoundError(f"no folder at {folder}")
    if not folder.is_dir():
        raise ValueError(f"{folder} is a file, not a folder of images")
    paths = sorted(p for p in folder.iterdir()
                   if p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".") and p.is_file())
    if not paths:
        raise ValueError(f"{folder} has no images (looked for {', '.join(IMAGE_EXTENSIONS)})")
    return paths
