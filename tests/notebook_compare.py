"""Execute a teaching notebook and compare its printed outputs with the ones stored in it.

The notebooks in notebooks/ are committed *with* their outputs (so that a student reading them on a
repository page sees the numbers and figures), and the tests re-execute each one and compare, code cell by
code cell, what it prints now with what is stored:

* compared: stdout text, and the ``text/plain`` of every ``execute_result`` / ``display_data``;
* not compared: stderr (warnings, progress bars), images byte for byte (but a cell that stored an
  ``image/png`` must still produce as many);
* sanitised first (machine-dependent): memory addresses ``0x...``; timings and speeds, i.e. a number
  followed by `` ms``, `` us``, `` s``, ``x`` (a ratio such as ``1.42x``), `` GFLOP/s``, `` GB/s``,
  `` MB/s``, `` it/s``; tqdm progress-bar lines; any line containing the marker ``[varies]``;
* numbers are compared token by token: one printed with a decimal point or an exponent may differ by one
  unit in its last printed digit (BLAS sums in a CPU-dependent order); an integer (a count, a shape, a
  step) must be equal, as must everything else.

Writing outputs back: ``python tests/test_notebooks.py --update notebooks/01_autograd.ipynb`` (or
``update_notebook(path)``) executes with the same code as the test and stores the result, with the
execution counts of a fresh top-to-bottom run, kernel ``python3`` and no timing metadata.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import nbclient
import nbformat

REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = REPO_ROOT / "notebooks"
KERNEL = "python3"
CELL_TIMEOUT_S = 300
VARIES = "[varies]"

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]+")
_NUM = r"[-+]?(?:\d[\d,]*\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
# A number and its unit; the longer units first so that " GFLOP/s" is not read as " ... s".
_TIMING = re.compile(_NUM + r"(?:\s?(?:GFLOP/s|GB/s|MB/s|it/s|ms|us|µs|s)\b|x(?![\w.]))")
_TQDM = re.compile(r"\d+%\|.*\||\d+it \[|it/s\]|s/it\]")
# A number: thousands separators belong to it ("74,436" is one token), so does a sign and an exponent.
_TOKEN = re.compile(r"(?P<num>[-+]?(?:(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)"
                    r"|(?P<word>[^\s\d.+-]+|[.+-])")


def sanitise(text: str) -> str:
    """The text with machine-dependent parts replaced by fixed placeholders (see the module docstring)."""
    out = []
    for line in _ANSI.sub("", text).replace("\r\n", "\n").split("\n"):
        if "\r" in line:  # a progress bar redrawn in place: keep only what was drawn last
            line = line.rsplit("\r", 1)[-1]
        if VARIES in line:
            out.append(VARIES)
            continue
        if _TQDM.search(line):
            continue
        line = _ADDRESS.sub("0x<address>", line)
        line = _TIMING.sub("<timing>", line)
        out.append(line.rstrip())
    return "\n".join(out)


def _last_digit_unit(token: str) -> float:
    # One unit in the last printed digit: "1.25" -> 0.01, "3e-05" -> 1e-05, "1.5e-3" -> 1e-4, "120" -> 1.
    mantissa, _, exponent = token.lower().partition("e")
    decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
    return 10.0 ** (int(exponent or 0) - decimals)


def numbers_match(stored: str, now: str) -> bool:
    """Two numeric tokens agree within one unit of the last printed digit (the coarser of the two); integers
    (no decimal point, no exponent: counts, shapes, steps) must be equal."""
    if not any(c in token for token in (stored, now) for c in ".eE"):
        return stored == now
    try:
        a, b = float(stored.replace(",", "")), float(now.replace(",", ""))
    except ValueError:
        return stored == now
    if a == b:
        return True
    unit = max(_last_digit_unit(stored), _last_digit_unit(now))
    return abs(a - b) <= unit * (1 + 1e-9)


def _tokens(line: str) -> list[tuple[str, str]]:
    return [("num", m.group("num")) if m.group("num") else ("word", m.group("word")) for m in _TOKEN.finditer(line)]


def lines_match(stored: str, now: str) -> bool:
    a, b = _tokens(stored), _tokens(now)
    if len(a) != len(b):
        return False
    return all(ka == kb and (numbers_match(va, vb) if ka == "num" else va == vb) for (ka, va), (kb, vb) in zip(a, b))


def texts_match(stored: str, now: str) -> bool:
    a, b = stored.split("\n"), now.split("\n")
    return len(a) == len(b) and all(lines_match(x, y) for x, y in zip(a, b))


@dataclass
class CellOutputs:
    """What the comparison looks at in one code cell: its sanitised text and how many PNG images it shows."""

    text: str
    images: int


def cell_outputs(cell) -> CellOutputs:
    parts, images, stdout = [], 0, []
    for out in cell.get("outputs", []):
        kind = out.get("output_type")
        if kind == "stream":
            if out.get("name") == "stdout":  # a print may arrive in several chunks: join them first
                stdout.append(out.get("text", ""))
            continue
        if stdout:
            parts.append("".join(stdout))
            stdout = []
        if kind in ("execute_result", "display_data"):
            data = out.get("data", {})
            if "text/plain" in data:
                plain = data["text/plain"]
                parts.append(plain if isinstance(plain, str) else "".join(plain))
            images += "image/png" in data
        elif kind == "error":
            parts.append(f"{out.get('ename')}: {out.get('evalue')}")
    if stdout:
        parts.append("".join(stdout))
    return CellOutputs(sanitise("\n".join(p.rstrip("\n") for p in parts)), images)


def has_outputs(nb) -> bool:
    return any(cell.get("outputs") for cell in nb.cells if cell.cell_type == "code")


def compare(stored_nb, executed_nb, name: str) -> list[str]:
    """The differences between two runs of one notebook, one readable message per differing cell."""
    stored_cells = [c for c in stored_nb.cells if c.cell_type == "code"]
    executed_cells = [c for c in executed_nb.cells if c.cell_type == "code"]
    if len(stored_cells) != len(executed_cells):
        return [f"{name}: {len(stored_cells)} code cells stored, {len(executed_cells)} executed"]
    problems = []
    index = {id(c): i for i, c in enumerate(stored_nb.cells)}
    for k, (old_cell, new_cell) in enumerate(zip(stored_cells, executed_cells)):
        old, new = cell_outputs(old_cell), cell_outputs(new_cell)
        first = old_cell.source.strip().split("\n")[0][:70]
        where = f"{name}, cell {index[id(old_cell)]} (code cell {k + 1}: {first!r})"
        if not texts_match(old.text, new.text):
            diff = difflib.unified_diff(old.text.split("\n"), new.text.split("\n"), "stored", "now", lineterm="", n=1)
            problems.append(f"{where}: the printed output changed (after sanitising; numbers may differ by one "
                            f"unit in their last digit)\n" + "\n".join(diff))
        if new.images < old.images:
            problems.append(f"{where}: stored {old.images} image(s), produced {new.images}")
    return problems


def _kernel_env() -> dict:
    # The kernel is a child process: it inherits os.environ, so put the checkout first on its path.
    paths = [str(REPO_ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return {"PYTHONPATH": os.pathsep.join(paths)}


def execute(path: Path, timeout: int = CELL_TIMEOUT_S):
    """A fresh copy of the notebook at `path`, executed top to bottom in a new python3 kernel from notebooks/.

    Raises nbclient's CellExecutionError (its text names the cell and the traceback) if a cell raises.
    """
    nb = nbformat.read(path, as_version=4)
    saved = {k: os.environ.get(k) for k in _kernel_env()}
    os.environ.update(_kernel_env())
    try:
        client = nbclient.NotebookClient(nb, timeout=timeout, kernel_name=KERNEL, record_timing=False,
                                         resources={"metadata": {"path": str(path.parent)}})
        client.execute()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return nb


def normalise(nb):
    """Strip what differs between runs or machines but is not output: timing metadata, the Python version."""
    nb.metadata["kernelspec"] = {"name": KERNEL, "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    for cell in nb.cells:
        for key in ("execution", "collapsed", "scrolled", "ExecuteTime"):
            cell.metadata.pop(key, None)
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs if not _is_progress_bar(o)]
    return nb


def _is_progress_bar(output) -> bool:
    return output.get("name") == "stderr" and bool(_TQDM.search(output.get("text", "")))


def update_notebook(path: Path) -> float:
    """Execute the notebook and write it back with its outputs; returns the wall time in seconds."""
    start = time.perf_counter()
    nb = normalise(execute(path))
    seconds = time.perf_counter() - start
    nbformat.validate(nb)
    nbformat.write(nb, path)
    return seconds


def check_notebook(path: Path) -> tuple[list[str], float]:
    """Re-execute and compare with the stored outputs: (problems, wall seconds)."""
    stored = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    executed = execute(path)
    seconds = time.perf_counter() - start
    name = str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)
    return compare(stored, executed, name), seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Execute teaching notebooks; compare with or store their outputs.")
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--update", action="store_true", help="execute and write the outputs back into the files")
    args = parser.parse_args(argv)
    status = 0
    for path in args.notebooks:
        path = path.resolve()
        if args.update:
            print(f"{path.name}: executed and stored in {update_notebook(path):.1f} s")
            continue
        problems, seconds = check_notebook(path)
        print(f"{path.name}: {'OK' if not problems else f'{len(problems)} difference(s)'} ({seconds:.1f} s)")
        for p in problems:
            print(p, file=sys.stderr)
        status |= bool(problems)
    return status


if __name__ == "__main__":
    sys.exit(main())
