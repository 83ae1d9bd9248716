"""Comparisons that say what is wrong: the worst element, where it is, and by how much.

The error measure is the project's: rel_error = max|yours - expected| / max|expected|. Tolerances: below
1e-10 in float64 and below 1e-5 in float32; a correct kernel is far inside them (a different summation
order costs about 1e-15 in float64), a wrong index or a missing term is far outside.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

TOLERANCE = {np.dtype(np.float64): 1e-10, np.dtype(np.float32): 1e-5}
REFERENCES = Path(os.environ.get("MINIRCAN_REFERENCES") or Path(__file__).resolve().parent / "references")


def references(task: str) -> list[dict]:
    """The reference cases of a task, computed from the solution when the release was built."""
    path = REFERENCES / f"task{task}.npz"
    if not path.is_file():
        raise FileNotFoundError(f"reference values {path} are missing: they are written by "
                                "'python -m minircan.assignments build' (ask your instructor for the release)")
    with np.load(path, allow_pickle=False) as data:
        cases: dict[int, dict] = {}
        for key in data.files:
            index, name = key.split(".", 1)
            cases.setdefault(int(index), {})[name] = data[key]
    return [cases[i] for i in sorted(cases)]


def check_close(actual, expected, what: str, dtype=None) -> None:
    """Fail with '<what>: relative error 3.1e-01 at [2, 0, 1, 1] (yours ..., expected ...)' unless close."""
    expected = np.asarray(expected)
    if actual is None:
        raise AssertionError(f"{what}: got None, expected an array of shape {expected.shape}")
    actual = np.asarray(actual)
    if actual.shape != expected.shape:
        raise AssertionError(f"{what}: shape {actual.shape}, expected {expected.shape}")
    dtype = np.dtype(dtype or expected.dtype)
    if actual.dtype != dtype:
        raise AssertionError(f"{what}: dtype {actual.dtype}, expected {dtype} (keep the input's dtype)")
    a, e = actual.astype(np.float64), expected.astype(np.float64)
    bad_nan = np.isnan(a) != np.isnan(e)
    if bad_nan.any():
        at = [int(i) for i in np.argwhere(bad_nan)[0]]
        raise AssertionError(f"{what}: NaN mismatch at {at} (yours {a[tuple(at)]}, expected {e[tuple(at)]}); "
                             "NaN usually means an output element was never written")
    diff = np.where(np.isnan(e), 0.0, np.abs(a - e))
    scale = float(np.nanmax(np.abs(e))) if e.size else 0.0
    err = float(diff.max() / scale) if scale > 0 else float(diff.max(initial=0.0))
    if not err < TOLERANCE[dtype]:
        at = [int(i) for i in np.unravel_index(int(np.argmax(diff)), diff.shape)]
        raise AssertionError(f"{what}: relative error {err:.1e} at {at} (yours {a[tuple(at)]:.6g}, expected "
                             f"{e[tuple(at)]:.6g}); tolerance {TOLERANCE[dtype]:.0e} in {dtype}")


def stride_padding(case: dict) -> tuple[tuple[int, int], tuple[int, int]]:
    """A conv case's stride and padding as tuples of Python ints (they are stored as arrays in the .npz)."""
    return tuple(int(s) for s in case["stride"]), tuple(int(p) for p in case["padding"])


def describe_conv(case: dict) -> str:
    """'x (2, 3, 7, 8), w (4, 3, 3, 3), stride (1, 1), padding (1, 1), bias, float64' for failure messages."""
    bias = "bias" if "b" in case else "no bias"
    stride, padding = stride_padding(case)
    return f"x {case['x'].shape}, w {case['w'].shape}, stride {stride}, padding {padding}, {bias}, {case['x'].dtype}"
