"""The CUDA C sources of the kernels: where they are, and their text with local includes inlined.

Both runtimes (CuPy's NVRTC on a GPU, the emulator's host compiler on a CPU) compile the text returned by
``read``: a ``.cu`` file with each ``#include "file.cuh"`` of this folder pasted in place, between ``#line``
directives so that compiler messages still name the right file and line.
"""

from __future__ import annotations

import os
import re

FOLDER = os.path.dirname(os.path.abspath(__file__))
SOURCES = ("avg_pool.cu", "conv2d.cu", "pixel_shuffle.cu", "relu.cu", "sigmoid.cu")
_INCLUDE = re.compile(r'^\s*#include\s+"([\w.]+)"\s*$', re.MULTILINE)
_KERNEL = re.compile(r'extern\s+"C"\s+__global__\s+void\s+(\w+)\s*\(')


def path(name: str) -> str:
    """The file of a source of this folder, e.g. path('relu.cu')."""
    return os.path.join(FOLDER, name)


def read(name: str, text: str | None = None) -> str:
    """The compilable text of source ``name`` (or of ``text`` standing in for it), local includes inlined."""
    if text is None:
        with open(path(name), encoding="utf-8") as f:
            text = f.read()

    def inline(match: re.Match) -> str:
        included = match.group(1)
        line = text.count("\n", 0, match.start()) + 2
        body = read(included)
        return f'#line 1 "{included}"\n{body}\n#line {line} "{name}"'

    return f'#line 1 "{name}"\n' + _INCLUDE.sub(inline, text)


def kernel_names(text: str) -> list[str]:
    """The ``extern "C" __global__`` kernels a source defines (the names a launch can ask for)."""
    return _KERNEL.findall(text)
