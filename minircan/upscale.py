"""python -m minircan.upscale IN... -o OUT --weights CKPT: super-resolve images with a trained RCAN.

    python -m minircan.upscale photo.jpg -o big/ --weights runs/tiny-x2/model.npz
    python -m minircan.upscale album/ -o album_x2/ --weights RCAN_BIX2.pt --tile 128

PNG, JPEG and BMP; grayscale is upscaled as RGB; an alpha channel is upscaled with bicubic and kept.
Large images go through the model in overlapping tiles (``--tile``, in LR pixels) so memory is bounded by
the tile, not the image.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

from .data import IMAGE_EXTENSIONS, imresize, list_images, read_image_with_alpha, write_image
from .device import device as get_device
from .inference import parse_tile, to_chw, to_hwc_uint8, upscale_image
from .models.files import load_model
from .outputs import OutputError, check_writable_folder, same_file

MIN_SIDE = 8  # LR pixels: below this the model's 3x3 convolutions see mostly their zero padding


def tile_arg(text: str) -> int | str:
    try:
        return parse_tile(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def overlap_arg(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"--overlap {text!r}: use a whole number of LR pixels >= 0")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m minircan.upscale",
        description="Super-resolve images with a trained RCAN. PNG, JPEG and BMP; grey images are upscaled as "
                    "RGB; an alpha channel is upscaled with bicubic and kept. Inputs are never overwritten.")
    p.add_argument("inputs", nargs="+", help="image files or folders of images")
    p.add_argument("-o", "--output", required=True,
                   help="a folder (made if missing; each output is named NAME_x2.png, NAME_x2.jpg, ...), or, "
                        "for a single input image, a file name ending in .png, .jpg or .bmp")
    p.add_argument("--weights", required=True,
                   help="the model: a minircan .npz (from train or convert) or an official RCAN .pt/.pth")
    p.add_argument("--tile", type=tile_arg, default=256,
                   help="tile side in LR pixels, so memory is set by the tile and not the image; 0 for the whole "
                        "image at once; chop for the official code's split (default: 256)")
    p.add_argument("--overlap", type=overlap_arg, default=16,
                   help="overlap of neighbouring tiles in LR pixels (default: 16)")
    p.add_argument("--self-ensemble", action="store_true",
                   help="average the outputs of the 8 flips and transposes (RCAN+; 8 times slower)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto (default: cpu)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar; print one line per image")
    return p


def collect_inputs(inputs: list[str]) -> list[tuple[Path, bool]]:
    """(image file, whether it was found in a folder rather than named) for every input."""
    files: list[tuple[Path, bool]] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            files += [(f, True) for f in list_images(path)]
        elif path.exists():
            if path.suffix.lower() not in IMAGE_EXTENSIONS:
                raise ValueError(f"{path}: not a supported image type (use {', '.join(IMAGE_EXTENSIONS)})")
            files.append((path, False))
        else:
            raise FileNotFoundError(f"no such file or folder: {path}")
    return files


def output_is_file(output: str, n_images: int) -> bool:
    """Whether -o names a file (else a folder), by what the user sees: an existing folder, or a name ending in
    a path separator, is a folder; a name ending in an image extension is a file; any other extension is
    refused rather than made into a folder."""
    out = Path(output)
    if output.endswith(("/", os.sep)) or out.is_dir():
        return False
    ext = out.suffix
    if out.exists():
        if ext.lower() not in IMAGE_EXTENSIONS:
            raise OutputError(f"-o {output} is an existing file, not a folder or an image: give a folder")
    elif not ext or not re.fullmatch(r"\.[A-Za-z][A-Za-z0-9]{0,4}", ext):
        return False
    elif ext.lower() not in IMAGE_EXTENSIONS:
        raise OutputError(f"-o {output}: minircan cannot write {ext} images; name a .png, .jpg or .bmp file, or "
                          "a folder (a name without an extension, or ending in /)")
    if n_images > 1:
        raise OutputError(f"-o {output} names one image file, but {n_images} images were given: give a folder")
    return True


def output_path(src: Path, output: str, is_file: bool, scale: int) -> Path:
    if is_file:
        return Path(output)
    return Path(output) / f"{src.stem}_x{scale}{src.suffix if src.suffix.lower() != '.jpeg' else '.jpg'}"


def _size(path: Path) -> tuple[int, int] | None:
    """(width, height) from the image's header (not decoded), or None if it cannot be read."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            return img.size
    except OSError:
        return None


def earlier_outputs(files: list[tuple[Path, bool]], output: str, is_file: bool) -> list[Path]:
    """Images found in the output folder that are this command's outputs of another image found there:
    NAME_xK.png beside NAME.png and exactly K times its size (upscaling them again would give NAME_x2_x2.png,
    run after run). A file of that name but another size is the user's: it stays an input, and the check
    that outputs never overwrite inputs then refuses the run."""
    if is_file:
        return []
    found = [f for f, from_folder in files if from_folder and same_file(f.parent, output)]
    by_stem = {f.stem: f for f in found}
    earlier = []
    for f in found:
        m = re.fullmatch(r"(.+)_x(\d+)", f.stem)
        if m and m.group(1) in by_stem:
            k, src, out = int(m.group(2)), _size(by_stem[m.group(1)]), _size(f)
            if src is not None and out is not None and out == (k * src[0], k * src[1]):
                earlier.append(f)
    return earlier


def plan(files: list[tuple[Path, bool]], output: str, is_file: bool, scale: int) -> list[tuple[Path, Path]]:
    """(input, output) pairs; raises OutputError if an output would be written over an input or over
    another output."""
    inputs = [f for f, _ in files]
    pairs = [(src, output_path(src, output, is_file, scale)) for src in inputs]
    by_inode = {(st.st_dev, st.st_ino): f for f in inputs if (st := os.stat(f))}  # links resolved by stat
    for src, dst in pairs:
        other = None
        if dst.exists():
            st = os.stat(dst)
            other = by_inode.get((st.st_dev, st.st_ino))
        if other is not None:
            raise OutputError(f"the output for {src} would be written over the input {other}: choose another "
                              "-o (inputs are never overwritten)")
    seen: dict[str, Path] = {}
    for src, dst in pairs:
        key = os.path.realpath(dst)
        if key in seen:
            raise OutputError(f"{seen[key]} and {src} would both be written to {dst}: rename one of them")
        seen[key] = src
    return pairs


def upscale_file(model, src: Path, dst: Path, scale: int, tile, overlap: int, ensemble: bool) -> tuple:
    rgb, alpha = read_image_with_alpha(src)
    h, w = rgb.shape[:2]
    if min(h, w) < MIN_SIDE:
        print(f"warning: {src} is {w}x{h} pixels; below {MIN_SIDE} pixels a side the model sees mostly the zero "
              "padding of its 3x3 convolutions, so expect a poor result", file=sys.stderr)
    sr = to_hwc_uint8(upscale_image(model, to_chw(rgb), scale, tile, overlap, ensemble))
    alpha_up = None if alpha is None else imresize(alpha, scale)
    write_image(dst, sr, alpha_up)
    return rgb.shape[:2], sr.shape[:2]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if isinstance(args.tile, int) and args.tile and args.overlap >= args.tile:
        build_parser().error(f"--overlap {args.overlap} must be smaller than --tile {args.tile}")
    done = 0
    pairs: list = []
    try:
        files = collect_inputs(args.inputs)
        is_file = output_is_file(args.output, len(files))
        check_writable_folder(Path(args.output).parent if is_file else args.output, "-o")
        skipped = earlier_outputs(files, args.output, is_file)
        if skipped:
            names = ", ".join(p.name for p in skipped[:3]) + (", ..." if len(skipped) > 3 else "")
            print(f"skipping {len(skipped)} image(s) that an earlier run wrote into this folder ({names}); "
                  "rename them to upscale them again")
            files = [(f, d) for f, d in files if f not in skipped]
        if not files:
            raise ValueError("nothing to upscale: every image found is an earlier output")
        model = load_model(args.weights).to(get_device(args.device))
        model.eval()
        scale = model.scale
        pairs = plan(files, args.output, is_file, scale)
        items = pairs
        if not args.no_progress and len(pairs) > 1:
            from tqdm import tqdm

            items = tqdm(pairs, unit="image")
        for src, dst in items:
            (h, w), (H, W) = upscale_file(model, src, dst, scale, args.tile, args.overlap, args.self_ensemble)
            done += 1
            if len(pairs) == 1 or args.no_progress:
                print(f"{src} ({w}x{h}) -> {dst} ({W}x{H})")
    except (ValueError, OSError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"interrupted: {done} of {len(pairs) or 'the'} images written (each image is written whole or not "
              "at all)", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
