"""RCAN model files: save and load a model with its configuration, native (.npz) or official (.pt).

A native file holds {"format": "minircan-rcan", "config": {...}, "state_dict": {...}}. An official .pt file
holds only a state dict; its configuration (scale, G, B, channels, reduction) is read off the shapes.
"""

from __future__ import annotations

import os
import re
from collections import OrderedDict

import numpy as np

from .. import checkpoint
from ..pt_format import load_pt_state_dict, save_pt
from .rcan import RCAN

FORMAT = "minircan-rcan"


def is_pt_file(path: str | os.PathLike) -> bool:
    return os.fspath(path).lower().endswith((".pt", ".pth"))


def infer_config(state_dict: dict, path: str | os.PathLike | None = None) -> dict:
    """RCAN's constructor arguments, read off an official state dict's keys and shapes."""
    try:
        n_feats = state_dict["head.0.weight"].shape[0]
        groups = {int(m.group(1)) for k in state_dict if (m := re.match(r"body\.(\d+)\.body\.", k))}
        n_resgroups = len(groups)
        blocks = {int(m.group(1)) for k in state_dict if (m := re.match(r"body\.0\.body\.(\d+)\.body\.", k))}
        n_resblocks = len(blocks)
        squeeze = state_dict["body.0.body.0.body.3.conv_du.0.weight"].shape[0] if n_resblocks else 1
        ups = sorted(int(m.group(1)) for k in state_dict if (m := re.match(r"tail\.0\.(\d+)\.weight", k)))
        first_up = state_dict["tail.0.0.weight"].shape[0] // n_feats
    except (KeyError, AttributeError, IndexError, TypeError) as e:
        where = f"{os.fspath(path)} holds" if path is not None else "this is"
        raise ValueError(f"{where} no RCAN weights (no key {e} among {len(state_dict)} entries): give a model "
                         "written by train or save_model, an official RCAN .pt, or their state dict") from None
    scale = 3 if first_up == 9 else 2 ** len(ups)
    return dict(scale=scale, n_resgroups=n_resgroups, n_resblocks=n_resblocks, n_feats=n_feats,
                reduction=n_feats // squeeze)


def load_state_dict_file(path: str | os.PathLike) -> tuple[OrderedDict, dict]:
    """(state dict, config) from a native .npz model file, a training checkpoint, an official .pt file or a
    plain ``np.savez`` of an RCAN state dict; the file's kind is read off its bytes, not its name."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no checkpoint at {path}: no such file")
    if os.path.isdir(path):
        raise ValueError(f"{path} is a folder, not a model file")
    what = checkpoint.kind(path)
    if what == "pytorch" or (what == "other" and is_pt_file(path)):
        sd = load_pt_state_dict(path)
        return sd, infer_config(sd, path)
    if what == "npz":
        with np.load(path, allow_pickle=False) as npz:
            sd = OrderedDict((k, npz[k]) for k in npz.files)
        return sd, infer_config(sd, path)
    obj = checkpoint.load(path)
    if isinstance(obj, dict) and obj.get("format") == FORMAT:
        return obj["state_dict"], dict(obj["config"])
    if isinstance(obj, dict) and "model" in obj and isinstance(obj["model"], dict):  # a training checkpoint
        sd = obj["model"]
        return sd, dict(obj.get("config") or infer_config(sd, path))
    if isinstance(obj, dict) and "head.0.weight" in obj:  # minircan.save(model.state_dict(), path)
        return obj, infer_config(obj, path)
    raise ValueError(f"{path} is a minircan checkpoint without an RCAN model in it: give a model written by "
                     "train or save_model (or a training checkpoint)")


def load_model(path: str | os.PathLike, strict: bool = True) -> RCAN:
    """An RCAN built from the file's configuration, with its weights (float32)."""
    sd, config = load_state_dict_file(path)
    model = RCAN(**config)
    model.load_state_dict(sd, strict=strict)
    return model


def save_model(model: RCAN, path: str | os.PathLike) -> None:
    """Save to .npz (weights and configuration) or, for a .pt/.pth path, an official state dict file."""
    if is_pt_file(path):
        save_pt(model.state_dict(), path)
    else:
        checkpoint.save({"format": FORMAT, "config": dict(model.config), "state_dict": model.state_dict()}, path)


def state_dict_to_float32(sd: dict) -> OrderedDict:
    return OrderedDict((k, np.asarray(v, dtype=np.float32)) for k, v in sd.items())
