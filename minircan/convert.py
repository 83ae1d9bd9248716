"""``python -m minircan.convert IN OUT``: convert RCAN weights between official .pt and minircan .npz.

    python -m minircan.convert RCAN_BIX2.pt rcan_x2.npz     # official PyTorch file -> minircan
    python -m minircan.convert rcan_x2.npz rcan_x2.pt       # minircan -> a file the official code loads

The configuration (scale, groups, blocks, channels, reduction) is read off the weights' shapes.
"""

from __future__ import annotations

import argparse
import sys

from . import checkpoint
from .models.files import is_pt_file, load_state_dict_file, save_model
from .models.rcan import RCAN


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m minircan.convert",
        description="Convert RCAN weights between an official PyTorch .pt/.pth file and a minircan .npz model "
                    "file (or an .npz of plain arrays to a minircan model file). The configuration is read off "
                    "the weights' shapes.")
    p.add_argument("input", help="an official .pt/.pth file, a minircan .npz model file or an np.savez state dict")
    p.add_argument("output", help="the file to write: .npz (minircan) or .pt/.pth (official PyTorch)")
    return p


def _kind(path: str) -> str:
    try:
        return checkpoint.kind(path)
    except OSError:
        return "missing"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if is_pt_file(args.input) and is_pt_file(args.output):
        parser.error("both files are .pt/.pth: convert writes a minircan .npz from a .pt, or a .pt from an .npz")
    if not is_pt_file(args.input) and not is_pt_file(args.output) and _kind(args.input) != "npz":
        parser.error("both files are minircan .npz: nothing to convert (an .npz of plain arrays, from np.savez, "
                     "can be converted to a minircan .npz)")
    try:
        sd, config = load_state_dict_file(args.input)
        model = RCAN(**config)
        model.load_state_dict(sd, strict=True)
        save_model(model, args.output)
    except (OSError, ValueError, ImportError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {args.output}: RCAN {config}, {model.num_parameters():,} parameters")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
