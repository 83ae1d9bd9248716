"""The CUDA emulator: runs the very ``.cu`` files of this folder on a CPU, with no GPU and no CUDA.

A source is compiled by the host C++ compiler (``$CXX``, else g++) into a shared library, with
``cuda_emu.h`` included first: that header turns ``__global__`` functions into plain C++, ``__shared__``
variables into one copy per block, and every CUDA thread into a fiber with its own stack, so that
``__syncthreads()`` is a real barrier (read the header: it is the whole emulator). For each kernel the
library gets an entry point that takes the grid, the block and an array of pointers to the arguments,
exactly what ``cuLaunchKernel`` takes, and runs the kernel for every thread of every block.

What a launch checks, that a GPU would not tell you as clearly:
- the arguments' types against the kernel's parameters (an int64 passed for an ``int`` reads garbage);
- that every thread of a block reaches the same ``__syncthreads()`` (a ``return`` before a barrier hangs
  or corrupts a GPU kernel);
- that no kernel writes outside its arrays: each array is copied between guard bands of NaNs that name
  the argument, and a launch that changes a guard band raises; one that reads there reads NaN (and so do
  reads of outputs never written: ``empty`` fills fresh arrays with NaN).

The blocks run one after another and the threads of a block in order, so a run is deterministic, and a
missing barrier shows up as a wrong result instead of a rare race. The emulator is slow (a context switch
per thread and barrier): small shapes only.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile

import numpy as np

from . import cu_source

HEADER = cu_source.path("cuda_emu.h")
GUARD = 64  # elements of guard band on each side of every array argument
FLAGS = ("-O2", "-std=c++17", "-shared", "-fPIC", "-w")

# NumPy scalar type -> the C++ parameter type it must match.
_SCALAR_TYPES = {
    np.int32: ("int", ctypes.c_int32),
    np.int64: ("long long", ctypes.c_int64),
    np.float32: ("float", ctypes.c_float),
    np.float64: ("double", ctypes.c_double),
}
_POINTER_TYPES = {np.dtype(np.float32): "float*", np.dtype(np.float64): "double*"}


class EmulatorError(RuntimeError):
    """A kernel did something a GPU would not forgive: a divergent barrier, a write out of bounds, bad arguments."""


def cache_dir() -> str:
    """Where compiled sources are kept: $MINIRCAN_CACHE, else $XDG_CACHE_HOME or ~/.cache, /minircan/emulator."""
    root = os.environ.get("MINIRCAN_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "minircan")
    return os.path.join(root, "emulator")


def compiler() -> str:
    """The host C++ compiler, or a clear error when there is none."""
    cxx = os.environ.get("CXX") or "g++"
    found = shutil.which(cxx)
    if found is None:
        raise EmulatorError(f"the CUDA emulator needs a C++17 compiler and found no {cxx!r}: install one "
                            "(e.g. apt install g++, or Xcode's command line tools) or set CXX to its path")
    return found


class _Library:
    """One compiled source: its kernels' entry points and parameter signatures."""

    def __init__(self, so_path: str, names: list[str]):
        self._lib = ctypes.CDLL(so_path)
        self._lib.emu_error.restype = ctypes.c_char_p
        self.entry = {}
        self.signature = {}
        for name in names:
            fn = getattr(self._lib, f"emu_launch_{name}")
            fn.restype = ctypes.c_int
            fn.argtypes = [ctypes.POINTER(ctypes.c_uint), ctypes.POINTER(ctypes.c_uint), ctypes.c_void_p]
            sig = getattr(self._lib, f"emu_signature_{name}")
            sig.restype = ctypes.c_char_p
            self.entry[name] = fn
            self.signature[name] = sig().decode().split(",")

    def error(self) -> str:
        return self._lib.emu_error().decode()


def _entry_points(names: list[str]) -> str:
    lines = ['extern "C" const char* emu_error() { return emu::error.c_str(); }']
    for k in names:
        lines.append(f'extern "C" int emu_launch_{k}(const unsigned* grid, const unsigned* block, void** args) '
                     f'{{ return emu::launch(grid, block, [args] {{ emu::invoke({k}, args); }}); }}')
        lines.append(f'extern "C" const char* emu_signature_{k}() '
                     f'{{ static const std::string s = emu::signature({k}); return s.c_str(); }}')
    return "\n".join(lines) + "\n"


def compile_source(name: str, text: str | None = None) -> _Library:
    """Compile source ``name`` (or ``text`` standing in for it) for the emulator; cached by content."""
    code = cu_source.read(name, text)
    names = cu_source.kernel_names(code)
    if not names:
        raise EmulatorError(f'{name} defines no extern "C" __global__ kernel')
    unit = code + '\n#line 1 "<emulator entry points>"\n' + _entry_points(names)
    with open(HEADER, encoding="utf-8") as f:
        header = f.read()
    cxx = compiler()
    key = hashlib.sha256("\0".join([header, unit, cxx, *FLAGS]).encode()).hexdigest()[:16]
    folder = cache_dir()
    so_path = os.path.join(folder, f"{os.path.splitext(name)[0]}-{key}.so")
    if not os.path.exists(so_path):
        os.makedirs(folder, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=folder) as tmp:
            src = os.path.join(tmp, "unit.cpp")
            with open(src, "w", encoding="utf-8") as f:
                f.write(unit)
            out = os.path.join(tmp, "unit.so")
            run = subprocess.run([cxx, *FLAGS, "-include", HEADER, src, "-o", out], capture_output=True, text=True)
            if run.returncode != 0:
                raise EmulatorError(f"compiling {name} for the emulator failed:\n{run.stderr.strip()}")
            os.replace(out, so_path)  # atomic: a concurrent run sees the whole library or none
    return _Library(so_path, names)


class EmulatorRuntime:
    """Launches the CUDA kernels on the CPU; arrays are NumPy arrays.

    ``sources`` maps a source name to text that stands in for its file (the tests plant bugs that way).
    The same interface as ``CupyRuntime``: ``xp``, ``empty`` and ``launch``.
    """

    name = "emulator"
    xp = np

    def __init__(self, sources: dict[str, str] | None = None):
        self._sources = dict(sources or {})
        self._libraries: dict[str, _Library] = {}

    def empty(self, shape: tuple, dtype) -> np.ndarray:
        """A new array filled with NaN, so that an element a kernel never writes cannot pass for a result."""
        return np.full(shape, np.nan, dtype=dtype)

    def library(self, source: str) -> _Library:
        if source not in self._libraries:
            self._libraries[source] = compile_source(source, self._sources.get(source))
        return self._libraries[source]

    def launch(self, source: str, kernel: str, grid: tuple, block: tuple, args: tuple) -> None:
        """kernel<<<grid, block>>>(*args): arrays are passed by pointer, NumPy scalars by value."""
        lib = self.library(source)
        if kernel not in lib.entry:
            raise EmulatorError(f"{source} has no kernel {kernel!r}; it has {', '.join(sorted(lib.entry))}")
        params = lib.signature[kernel]
        if len(params) != len(args):
            raise EmulatorError(f"{kernel} takes {len(params)} arguments ({', '.join(params)}), got {len(args)}")
        keep, pointers, guarded = [], [], []
        for i, (param, arg) in enumerate(zip(params, args)):
            if isinstance(arg, np.ndarray):
                expected = _POINTER_TYPES.get(arg.dtype)
                if expected is None or param.replace("const ", "") != expected:
                    raise EmulatorError(f"{kernel} argument {i}: the kernel takes {param}, got an array of {arg.dtype}")
                if not arg.flags.c_contiguous:
                    raise EmulatorError(f"{kernel} argument {i}: arrays must be C-contiguous")
                buf = np.full(arg.size + 2 * GUARD, _guard_value(arg.dtype, i), dtype=arg.dtype)
                buf[GUARD:GUARD + arg.size] = arg.reshape(-1)
                guarded.append((i, arg, buf, buf[:GUARD].tobytes(), buf[GUARD + arg.size:].tobytes()))
                value = ctypes.c_void_p(buf.ctypes.data + GUARD * arg.itemsize)
            else:
                ctype, ctor = _SCALAR_TYPES.get(type(arg), (None, None))
                if ctype is None:
                    raise EmulatorError(f"{kernel} argument {i}: pass arrays or NumPy scalars of an explicit type "
                                        f"(np.int32(...), np.int64(...)), as CuPy needs; got {type(arg).__name__}")
                if ctype != param:
                    raise EmulatorError(f"{kernel} argument {i}: the kernel takes {param}, got {ctype}")
                value = ctor(arg)
            keep.append(value)
            pointers.append(ctypes.cast(ctypes.pointer(value), ctypes.c_void_p))
        argv = (ctypes.c_void_p * len(pointers))(*[p.value for p in pointers])
        grid3 = (ctypes.c_uint * 3)(*_dim3(grid))
        block3 = (ctypes.c_uint * 3)(*_dim3(block))
        if lib.entry[kernel](grid3, block3, argv) != 0:
            raise EmulatorError(f"{kernel}<<<{_dim3(grid)}, {_dim3(block)}>>>: {lib.error()}")
        for i, arg, buf, before, after in guarded:
            if buf[:GUARD].tobytes() != before or buf[GUARD + arg.size:].tobytes() != after:
                raise EmulatorError(f"{kernel}<<<{_dim3(grid)}, {_dim3(block)}>>> wrote outside argument {i} "
                                    f"(an array of {arg.size} elements): check its bounds guard")
            arg.reshape(-1)[...] = buf[GUARD:GUARD + arg.size]


def _guard_value(dtype, i: int):
    """A NaN whose payload names argument i: a kernel that copies a guard of one array into another's
    (e.g. relu reading x[n] and writing y[n]) changes the bytes of the second's guard, and is caught."""
    if np.dtype(dtype) == np.float32:
        return np.array(0x7FC05A00 + i, dtype=np.uint32).view(np.float32)
    return np.array(0x7FF8000000005A00 + i, dtype=np.uint64).view(np.float64)


def _dim3(d) -> tuple:
    d = (d,) if isinstance(d, int) else tuple(d)
    return tuple(int(v) for v in d) + (1,) * (3 - len(d))
