"""Native checkpoints: ``minircan.save(obj, path)`` / ``minircan.load(path)`` in NumPy's .npz format.

``obj`` is a tree of dicts and lists whose leaves are arrays (or Tensors), numbers, strings, booleans or
None: a state dict, or {"model": ..., "optimizer": ..., "step": ...}. Arrays become .npz entries; the rest
of the tree is kept as JSON in the entry ``__tree__``, with the minircan version. Opening a checkpoint
never runs code: it is read with ``allow_pickle=False``.

Writes are atomic: the file is written beside the target under a temporary name, flushed to disk, then
renamed over the target, so an interrupted save never leaves a half-written checkpoint behind.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from collections import OrderedDict
from typing import Any

import numpy as np

from .tensor import Tensor

_TREE = "__tree__"


def save(obj: Any, path: str | os.PathLike) -> None:
    """Write obj to path (.npz) atomically."""
    from . import __version__

    arrays: dict[str, np.ndarray] = {}
    tree = {"minircan_version": __version__, "obj": _flatten(obj, arrays)}
    arrays[_TREE] = np.array(json.dumps(tree))
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private; give it the usual permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def kind(path: str | os.PathLike) -> str:
    """What a file holds, judged by its bytes (not its name): "minircan" (written by ``save``), "npz" (an
    .npz of plain arrays, e.g. ``np.savez(f, **state_dict)``), "pytorch" (a .pt/.pth file, either format),
    "npy" (one NumPy array) or "other"."""
    path = os.fspath(path)
    with open(path, "rb") as f:
        head = f.read(16)
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
        except (zipfile.BadZipFile, OSError):
            return "other"
        if any(n == "data.pkl" or n.endswith("/data.pkl") for n in names):
            return "pytorch"
        if f"{_TREE}.npy" in names:
            return "minircan"
        return "npz" if names and all(n.endswith(".npy") for n in names) else "other"
    if head.startswith(b"\x93NUMPY"):
        return "npy"
    if head.startswith(b"\x80") and b"\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19" in head:  # legacy PyTorch magic
        return "pytorch"
    return "other"


def load(path: str | os.PathLike) -> Any:
    """Read a checkpoint written by ``save``: the same tree, with NumPy arrays for the arrays."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no checkpoint at {path}")
    if os.path.isdir(path):
        raise ValueError(f"{path} is a folder, not a checkpoint file")
    what = kind(path)
    if what == "pytorch":
        raise ValueError(f"{path} is a PyTorch checkpoint, not a minircan one: load RCAN weights with "
                         "minircan.models.load_model(path) (python -m minircan.convert turns them into .npz), "
                         "other state dicts with minircan.pt_format.load_pt_state_dict(path)")
    if what == "npz":
        raise ValueError(f"{path} is an .npz of plain arrays (np.savez), not a minircan checkpoint (minircan.save): "
                         "RCAN weights saved that way load with minircan.models.load_model(path), and "
                         "python -m minircan.convert writes them as a minircan model file; for other arrays use "
                         "numpy.load(path)")
    if what != "minircan":
        raise ValueError(f"cannot read checkpoint {path}: it is not an .npz archive written by minircan.save "
                         f"({_describe(what, path)})")
    try:
        with np.load(path, allow_pickle=False) as npz:
            files = list(npz.files)
            tree = json.loads(str(npz[_TREE]))
            arrays = {k: npz[k] for k in files if k != _TREE}
    except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile) as e:
        # NumPy's text for pickled entries suggests allow_pickle=True (running the file's code): not repeated.
        why = "it holds pickled Python objects, which minircan never loads" if "pickle" in str(e).lower() \
            else f"{type(e).__name__}; is it truncated?"
        raise ValueError(f"cannot read checkpoint {path}: {why}") from e
    return _unflatten(tree["obj"], arrays)


def _describe(what: str, path: str) -> str:
    if what == "npy":
        return "it is a single NumPy array (.npy)"
    try:
        with open(path, "rb") as f:
            head = f.read(512)
        head.decode("utf-8")
        return "it is a text file"
    except UnicodeDecodeError:
        return "an unknown or truncated file"


def checkpoint_version(path: str | os.PathLike) -> str:
    """The minircan version that wrote a checkpoint."""
    with np.load(os.fspath(path), allow_pickle=False) as npz:
        return json.loads(str(npz[_TREE]))["minircan_version"]


def _flatten(node: Any, arrays: dict[str, np.ndarray]) -> Any:
    if isinstance(node, Tensor):
        node = node.numpy()
    if isinstance(node, np.ndarray) or (hasattr(node, "__array__") and not np.isscalar(node)):
        name = f"a{len(arrays)}"
        arrays[name] = np.asarray(node)
        return {"__array__": name}
    if isinstance(node, dict):
        keys = list(node)
        if not all(isinstance(k, str) for k in keys):
            raise TypeError(f"checkpoint dict keys must be strings, got {[type(k).__name__ for k in keys][:3]}")
        return {"__dict__": [[k, _flatten(node[k], arrays)] for k in keys]}
    if isinstance(node, (list, tuple)):
        return {"__list__": [_flatten(v, arrays) for v in node], "tuple": isinstance(node, tuple)}
    if isinstance(node, np.generic):
        return node.item()
    if node is None or isinstance(node, (bool, int, float, str)):
        return node
    raise TypeError(f"cannot save a {type(node).__name__} in a checkpoint: use arrays, numbers, strings, "
                    "lists and dicts")


def _unflatten(node: Any, arrays: dict[str, np.ndarray]) -> Any:
    if isinstance(node, dict):
        if "__array__" in node:
            return arrays[node["__array__"]]
        if "__dict__" in node:
            return OrderedDict((k, _unflatten(v, arrays)) for k, v in node["__dict__"])
        if "__list__" in node:
            items = [_unflatten(v, arrays) for v in node["__list__"]]
            return tuple(items) if node.get("tuple") else items
    return node
