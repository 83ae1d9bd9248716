"""PyTorch checkpoint files (.pt / .pth): read them into NumPy state dicts, and write them back.

Reading never uses PyTorch, installed or not (nor its unpickler): minircan reads both of PyTorch's formats
itself:

- the zip format (PyTorch >= 1.6): a zip archive with ``data.pkl`` (the pickled structure) and one file
  per tensor storage under ``data/``;
- the legacy format (PyTorch 0.4, in which the official RCAN models were saved): five pickles in a row
  (magic number, protocol, system info, the structure, the storage keys), then each storage's raw bytes.

Both are read by a restricted unpickler that rebuilds only ordered dicts, tensors and
storages: anything else in the file (a class, a function) is refused, so opening a file never runs code.

Writing needs PyTorch: ``save_pt`` stores plain tensors with ``torch.save``, in the legacy format by default
so that the official code, written for PyTorch 0.4, loads it.
"""

from __future__ import annotations

import io
import os
import pickle
import struct
import zipfile
from collections import OrderedDict
from typing import Any

import numpy as np

_DTYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "BFloat16Storage": None, "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
    "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


class _StorageType:
    def __init__(self, name: str):
        if _DTYPES.get(name) is None:
            raise pickle.UnpicklingError(f"unsupported tensor storage {name}")
        self.dtype = np.dtype(_DTYPES[name])


def _rebuild_tensor(storage, offset, size, stride, *_unused):
    """torch._utils._rebuild_tensor(_v2): a strided view of a storage. It stays a view until the whole
    file is read (the legacy format stores the bytes after the structure); _own() then copies it."""
    item = storage.itemsize
    return np.lib.stride_tricks.as_strided(storage[offset:], shape=tuple(size),
                                           strides=tuple(s * item for s in stride))


def _rebuild_parameter(data, *_unused):
    return data


class _RestrictedUnpickler(pickle.Unpickler):
    """Rebuilds OrderedDicts, tensors and storages; refuses every other global."""

    def __init__(self, file, load_storage):
        super().__init__(file)
        self._load_storage = load_storage

    def find_class(self, module: str, name: str):
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        if module == "torch._utils" and name in ("_rebuild_tensor", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if module == "torch._utils" and name == "_rebuild_parameter":
            return _rebuild_parameter
        if module == "torch" and name in _DTYPES:
            return _StorageType(name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a checkpoint: only tensors and "
                                     "dictionaries are read (a checkpoint must never run code)")

    def persistent_load(self, pid):
        # ('storage', storage_type, key, location, numel[, view_metadata])
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r}")
        storage_type, key = pid[1], str(pid[2])
        return self._load_storage(key, storage_type.dtype, pid[4])


def _read_zip(path: str) -> Any:
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        pkl = next((n for n in names if n.endswith("/data.pkl") or n == "data.pkl"), None)
        if pkl is None:
            raise ValueError(f"{path}: a zip file without data.pkl is not a PyTorch checkpoint")
        prefix = pkl[: -len("data.pkl")]

        def load_storage(key, dtype, numel):
            return np.frombuffer(zf.read(f"{prefix}data/{key}"), dtype=dtype, count=numel)

        return _RestrictedUnpickler(io.BytesIO(zf.read(pkl)), load_storage).load()


def _read_legacy(path: str) -> Any:
    with open(path, "rb") as f:
        def plain_load():
            return _RestrictedUnpickler(f, None).load()

        if plain_load() != _LEGACY_MAGIC:
            raise ValueError(f"{path} is neither a zip nor a legacy PyTorch checkpoint (bad magic number)")
        plain_load()  # protocol version
        plain_load()  # system info (endianness, type sizes)
        storages: dict[str, np.ndarray] = {}
        wanted: dict[str, tuple] = {}

        def register(key, dtype, numel):
            wanted[key] = (dtype, numel)
            storages.setdefault(key, np.empty(numel, dtype=dtype))  # filled below, after the structure
            return storages[key]

        structure = _RestrictedUnpickler(f, register).load()
        for key in _RestrictedUnpickler(f, None).load():
            dtype, _ = wanted[key]
            (numel,) = struct.unpack("<q", f.read(8))
            storages[key][:] = np.frombuffer(f.read(numel * dtype.itemsize), dtype=dtype, count=numel)
    return structure


def read_pt(path: str | os.PathLike, use_torch: bool | None = None) -> Any:
    """The object stored in a .pt file, with tensors as NumPy arrays, read by minircan's restricted unpickler.

    That reader is the library's one path, with or without PyTorch installed: it refuses anything but
    tensors and dictionaries, and its refusals never suggest loading unsafely. ``use_torch=True`` reads
    with ``torch.load(weights_only=True)`` instead: the tests' reference, never used by the library.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no checkpoint at {path}")
    if use_torch:
        import torch

        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except (pickle.UnpicklingError, RuntimeError, EOFError) as e:
            # PyTorch's own text suggests weights_only=False (running the file's code): not repeated here.
            raise ValueError(f"cannot read PyTorch checkpoint {path}: torch.load(weights_only=True) refused "
                             f"it ({type(e).__name__})") from e
        # torch's .numpy() is a view of the tensor's storage: a transposed tensor comes back strided, and
        # tensors that shared a storage in the file would share memory. Copy each, as the reader below does.
        return _own(_tensors_to_numpy(obj))
    try:
        return _own(_read_zip(path) if zipfile.is_zipfile(path) else _read_legacy(path))
    except (pickle.UnpicklingError, EOFError, struct.error, KeyError, ValueError, IndexError, TypeError,
            AttributeError, zipfile.BadZipFile) as e:
        detail = str(e) or type(e).__name__
        if detail.startswith(path):  # our own messages already name the file
            detail = detail[len(path):].lstrip(": ")
        raise ValueError(f"cannot read PyTorch checkpoint {path}: {detail}") from e


def load_pt_state_dict(path: str | os.PathLike, use_torch: bool | None = None) -> OrderedDict[str, np.ndarray]:
    """A state dict from a .pt file: unwraps {"state_dict": ...} or {"model": ...}, drops "module." prefixes."""
    obj = read_pt(path, use_torch)
    for wrapper in ("state_dict", "model", "params"):
        if isinstance(obj, dict) and wrapper in obj and isinstance(obj[wrapper], dict):
            obj = obj[wrapper]
            break
    if not isinstance(obj, dict):
        raise ValueError(f"{path} holds a {type(obj).__name__}, not a state dict")
    sd = OrderedDict()
    for key, value in obj.items():
        if not isinstance(value, np.ndarray):
            continue  # e.g. a stored step counter next to the tensors
        sd[key[len("module."):] if key.startswith("module.") else key] = value
    return sd


def save_pt(state_dict: dict, path: str | os.PathLike, legacy: bool = True) -> None:
    """Write a state dict as a .pt file of plain tensors (needs PyTorch). legacy=True: the pre-1.6 format
    that PyTorch 0.4, the official RCAN code's version, reads; newer PyTorch reads both."""
    try:
        import torch
    except ImportError as e:
        raise ImportError("writing a .pt file needs PyTorch: pip install torch (or minircan's 'test' extra)") from e
    tensors = OrderedDict((k, torch.from_numpy(np.ascontiguousarray(np.asarray(v)))) for k, v in state_dict.items())
    path = os.fspath(path)
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        torch.save(tensors, tmp, _use_new_zipfile_serialization=not legacy)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _own(obj: Any) -> Any:
    """Replace every array view in obj by a contiguous, writable copy of its own."""
    if isinstance(obj, np.ndarray):
        return np.array(obj, copy=True, order="C")
    if isinstance(obj, dict):
        return OrderedDict((k, _own(v)) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return type(obj)(_own(v) for v in obj)
    return obj


def _tensors_to_numpy(obj: Any) -> Any:
    if hasattr(obj, "detach") and hasattr(obj, "numpy"):
        return obj.detach().cpu().numpy()
    if isinstance(obj, dict):
        return OrderedDict((k, _tensors_to_numpy(v)) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return type(obj)(_tensors_to_numpy(v) for v in obj)
    return obj
