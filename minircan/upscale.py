"""``python -m minircan.upscale IN... -o OUT --weights CKPT``: super-resolve images with a trained RCAN.

    python -m minircan.upscale photo.jpg -o big/ --weights runs/tiny-x2/model.npz
    python -m minircan.upscale album/ -o album_x2/ --weights RCAN_BIX2.pt --tile 128

PNG, JPEG and BMP; grayscale is upscaled as RGB; an alpha channel is upscaled with bicubic and kept.
Large images go through the model in overlapping tiles (``--tile``, in LR pixels) so memory is bounded by
the tile, not the image.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


from .data import IMAGE_EXTENSIONS, imresize, list_images, read_image_with_alpha, write_image
from .device import device as get_device
from .inference import to_chw, to_hwc_uint8, upscale_image
from .models.files import load_model


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m minircan.upscale", description=__doc__.split("\n\n")[0])
    p.add_argument("inputs", nargs="+", help="image files or folders of images")
    p.add_argument("-o", "--output", required=True, help="output folder (or file, for a single input image)")
    p.add_argument("--weights", required=True, help="a model file: minircan .npz or official .pt/.pth")
    p.add_argument("--tile", type=int, default=256, help="tile size in LR pixels (0: the whole image at once)")
    p.add_argument("--overlap", type=int, default=16, help="tile overlap in LR pixels")
    p.add_argument("--self-ensemble", action="store_true", help="average the 8 flips/transposes (slower)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    p.add_argument("--no-progress", action="store_true")
    return p


def collect_inputs(inputs: list[str]) -> list[Path]:
    files: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            files += list_images(path)
        elif path.exists():
            if path.suffix.lower() not in IMAGE_EXTENSIONS:
                raise ValueError(f"{path}: not a supported image type (use {', '.join(IMAGE_EXTENSIONS)})")
            files.append(path)
        else:
            raise FileNotFoundError(f"no such file or folder: {path}")
    return files


def output_path(src: Path, output: str, single: bool, scale: int) -> Path:
    out = Path(output)
    if single and out.suffix.lower() in IMAGE_EXTENSIONS:
        return out
    return out / f"{src.stem}_x{scale}{src.suffix if src.suffix.lower() != '.jpeg' else '.jpg'}"


def upscale_file(model, src: Path, dst: Path, scale: int, tile: int, overlap: int, ensemble: bool) -> tuple:
    rgb, alpha = read_image_with_alpha(src)
    sr = to_hwc_uint8(upscale_image(model, to_chw(rgb), scale, tile, overlap, ensemble))
    alpha_up = None if alpha is None else imresize(alpha, scale)
    write_image(dst, sr, alpha_up)
    return rgb.shape[:2], sr.shape[:2]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        files = collect_inputs(args.inputs)
        model = load_model(args.weights).to(get_device(args.device))
        model.eval()
        scale = model.scale
        items = files
        if not args.no_progress and len(files) > 1:
            from tqdm import tqdm

            items = tqdm(files, unit="image")
        for src in items:
            dst = output_path(src, args.output, len(files) == 1, scale)
            (h, w), (H, W) = upscale_file(model, src, dst, scale, args.tile, args.overlap, args.self_ensemble)
            if len(files) == 1 or args.no_progress:
                print(f"{src} ({w}x{h}) -> {dst} ({W}x{H})")
    except (ValueError, FileNotFoundError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
