"""python -m minircan.evaluate: PSNR/SSIM of a model (or of bicubic) on folders of HR images.

    python -m minircan.evaluate --weights runs/tiny-x2/model.npz               # the bundled validation images
    python -m minircan.evaluate --weights RCAN_BIX2.pt --data Set5 Set14 --tile chop --self-ensemble
    python -m minircan.evaluate --bicubic --data Set5 --scale 4

The official protocol: HR cropped to a multiple of the scale, LR made with MATLAB-exact bicubic (BI) or the
blur-downsample (BD), SR clamped and rounded to uint8, PSNR and SSIM on the Y channel with ``scale``
pixels cut from each border; a set's score is the mean of its images' scores.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

from .data import benchmark_pairs, make_pairs, sample_images, write_image
from .device import device as get_device
from .inference import EVAL_TILE, bicubic, to_chw, to_hwc_uint8, upscale_image
from .metrics import psnr, ssim
from .models.files import load_model
from .outputs import check_writable_folder
from .upscale import overlap_arg, tile_arg


def scale_arg(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 2:
        raise argparse.ArgumentTypeError(f"--scale {text!r}: use a whole number >= 2 (RCAN's are 2, 3, 4 and 8)")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m minircan.evaluate",
        description="PSNR/SSIM of a model (or of bicubic upscaling) on folders of HR images, by the official "
                    "protocol: Y channel, scale pixels cut from each border, SR rounded to uint8.")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--weights", help="the model: a minircan .npz (from train or convert) or an official "
                                       "RCAN .pt/.pth")
    src.add_argument("--bicubic", action="store_true", help="score bicubic upscaling instead of a model")
    p.add_argument("--data", nargs="+", help="folders of HR images, e.g. Set5 Set14 (default: the two bundled "
                                             "validation photographs)")
    p.add_argument("--scale", type=scale_arg,
                   help="upscaling factor; with --weights it must be the model's (default: the model's, or 2 "
                        "with --bicubic)")
    p.add_argument("--degradation", choices=["BI", "BD"], default="BI",
                   help="how LR images are made: BI bicubic, BD blur then downsample (default: BI)")
    p.add_argument("--self-ensemble", action="store_true",
                   help="average the outputs of the 8 flips and transposes (RCAN+; 8 times slower)")
    p.add_argument("--tile", type=tile_arg, default=EVAL_TILE,
                   help="chop: the official split, which the paper's numbers and training's validation use; "
                        "0: whole images; N: tiles of N LR pixels (default: chop)")
    p.add_argument("--overlap", type=overlap_arg, default=16,
                   help="overlap of neighbouring tiles in LR pixels, for --tile N (default: 16)")
    p.add_argument("--save", help="also write the SR images into this folder (default: not written)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto (default: cpu)")
    return p


def evaluate_set(name: str, pairs: list, upscale, scale: int, save: str | None = None) -> list[dict]:
    rows = []
    for pair in pairs:
        t0 = time.perf_counter()
        sr = upscale(pair)
        elapsed = time.perf_counter() - t0
        rows.append(dict(set=name, name=pair.name, psnr=psnr(sr, pair.hr, scale), ssim=ssim(sr, pair.hr, scale),
                         seconds=elapsed))
        if save:
            write_image(os.path.join(save, name, f"{pair.name}_x{scale}_SR.png"), sr)
    return rows


def format_results(rows: list[dict]) -> str:
    lines = [f"{'set':<12}{'image':<24}{'PSNR (dB)':>10}{'SSIM':>9}{'seconds':>9}"]
    for r in rows:
        lines.append(f"{r['set']:<12}{r['name']:<24}{r['psnr']:>10.2f}{r['ssim']:>9.4f}{r['seconds']:>9.2f}")
    for s in dict.fromkeys(r["set"] for r in rows):
        mine = [r for r in rows if r["set"] == s]
        lines.append(f"{s:<12}{'mean of ' + str(len(mine)):<24}{np.mean([r['psnr'] for r in mine]):>10.2f}"
                     f"{np.mean([r['ssim'] for r in mine]):>9.4f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    tile = args.tile
    if isinstance(tile, int) and tile and args.overlap >= tile:
        parser.error(f"--overlap {args.overlap} must be smaller than --tile {tile}")
    try:
        if args.save:
            check_writable_folder(args.save, "--save")
        device = get_device(args.device)  # checked first: asking for a GPU that is not there is an error
        if args.bicubic:
            scale = args.scale or 2

            def upscale(pair):
                return bicubic(pair.lr, scale, pair.hr.shape)
        else:
            model = load_model(args.weights).to(device)
            model.eval()
            scale = model.scale
            if args.scale and args.scale != scale:
                raise ValueError(f"{args.weights} is an x{scale} model, but --scale {args.scale} was given: drop "
                                 f"--scale or give an x{args.scale} model")

            def upscale(pair):
                return to_hwc_uint8(upscale_image(model, to_chw(pair.lr), scale, tile, args.overlap,
                                                  args.self_ensemble))
        sets = [(os.path.basename(os.path.normpath(d)), benchmark_pairs(d, scale, args.degradation))
                for d in args.data] if args.data else [("samples", make_pairs(sample_images("val"), scale,
                                                                                 args.degradation))]
        rows = []
        for name, pairs in sets:
            rows += evaluate_set(name, pairs, upscale, scale, args.save)
    except (ValueError, OSError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: no scores printed", file=sys.stderr)
        return 130
    what = "bicubic" if args.bicubic else args.weights
    how = "" if args.bicubic else (", whole images" if not tile else
                                   ", official chop" if tile == "chop" else f", tiles of {tile}")
    print(f"{what}, x{scale} {args.degradation}, Y channel, border {scale}"
          + (", self-ensemble" if args.self_ensemble else "") + how)
    print(format_results(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
