"""Solution fences: find the fenced regions of a source file, replace them with stubs, and put them back.

In the solution, each piece a student writes is fenced by two comment lines, at the indentation of the
code they enclose; the opening line names the task (Python uses ``#``, CUDA C uses ``//``):

    <comment> BEGIN SOLUTION (task 2)
    ... the solution ...
    <comment> END SOLUTION

``strip`` turns a file into its student version: every region becomes a stub. A Python stub is a TODO
comment and ``raise NotImplementedError("task 2: conv2d forward - implement forward_naive in
kernels/conv2d.py")``, which also compiles inside a Numba ``@njit`` function. A CUDA stub is a TODO
comment only, so the kernel compiles and does nothing there (its output stays as it was). ``reveal``
does the reverse for chosen tasks in an existing release: it finds each of that task's stubs and puts the
solution back.
Both are plain text transformations, line for line, so the release keeps the solution's layout.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePosixPath

from .tasks import get_task

# Built from pieces so that this module's own source never contains a fence line.
_MARK = "SOLUTION"
_BEGIN = re.compile(r"^(?P<indent>\s*)(?P<comment>#|//) BEGIN " + _MARK + r" \(task (?P<task>[0-9][0-9.]*)\)\s*$")
_END = re.compile(r"^(?P<indent>\s*)(?P<comment>#|//) END " + _MARK + r"\s*$")
_ANY = re.compile(r"^\s*(#|//)\s*(BEGIN|END)\s+" + _MARK)  # anything that looks like a fence, well formed or not
_PY_DEF = re.compile(r"^(?P<indent>\s*)(?:async\s+)?def\s+(?P<name>\w+)\s*\(")
_PY_CLASS = re.compile(r"^(?P<indent>\s*)class\s+(?P<name>\w+)\b")
_C_FUNC = re.compile(r"(?:__global__|__device__)[^(]*?\b(?P<name>\w+)\s*\(")

CODE_SUFFIXES = (".py", ".cu", ".cuh", ".h")  # the files that may hold fences


class FenceError(ValueError):
    """A malformed fence: unbalanced, nested, without a task id, or with the wrong comment syntax."""


@dataclass(frozen=True)
class Region:
    """One fenced solution region of a file: lines ``begin`` .. ``end`` (the fence lines, 0-based)."""

    path: str  # the file, relative to the release root, with forward slashes
    task: str
    begin: int
    end: int
    indent: str
    function: str  # the enclosing function (Class.method in Python), for the stub's message
    body: tuple[str, ...]  # the solution lines between the fences

    @property
    def statements(self) -> list[str]:
        """The region's code lines, stripped, without blank lines and comments."""
        comment = comment_prefix(self.path)
        return [s for s in (line.strip() for line in self.body) if s and not s.startswith(comment)]


def comment_prefix(path: str) -> str:
    """'#' for Python files, '//' for CUDA C / C++ files."""
    return "#" if str(path).endswith(".py") else "//"


def find_regions(text: str, path: str) -> list[Region]:
    """Every fenced region of one file, in order. Raises FenceError naming the file and line of a bad fence."""
    path = str(PurePosixPath(path))
    lines = text.split("\n")
    want = comment_prefix(path)
    regions: list[Region] = []
    open_at: int | None = None
    task = indent = ""
    for i, line in enumerate(lines):
        if not _ANY.match(line):
            continue
        where = f"{path}:{i + 1}"
        begin, end = _BEGIN.match(line), _END.match(line)
        m = begin or end
        if m is None:
            raise FenceError(f"{where}: malformed fence {line.strip()!r}; write '{want} BEGIN {_MARK} (task N)' "
                             f"and '{want} END {_MARK}'")
        if m["comment"] != want:
            raise FenceError(f"{where}: this file's fences are '{want}' comments, not '{m['comment']}'")
        if begin:
            if open_at is not None:
                raise FenceError(f"{where}: BEGIN inside the region opened at line {open_at + 1}; "
                                 "close it with END first (regions do not nest)")
            try:
                get_task(begin["task"])
            except ValueError as e:
                raise FenceError(f"{where}: {e}") from None
            open_at, task, indent = i, begin["task"], begin["indent"]
        else:
            if open_at is None:
                raise FenceError(f"{where}: END without a BEGIN above it")
            body = tuple(lines[open_at + 1:i])
            regions.append(Region(path, task, open_at, i, indent, _enclosing_function(lines, open_at, path), body))
            open_at = None
    if open_at is not None:
        raise FenceError(f"{path}:{open_at + 1}: BEGIN without a matching END")
    return regions


def _enclosing_function(lines: list[str], at: int, path: str) -> str:
    """The name of the function that contains line ``at`` (Class.method for a Python method)."""
    if path.endswith(".py"):
        indent = len(lines[at]) - len(lines[at].lstrip())
        for i in range(at - 1, -1, -1):
            m = _PY_DEF.match(lines[i])
            if m and len(m["indent"]) < indent:
                name, def_indent = m["name"], len(m["indent"])
                for j in range(i - 1, -1, -1):
                    c = _PY_CLASS.match(lines[j])
                    if c and len(c["indent"]) < def_indent:
                        return f"{c['name']}.{name}"
                    d = _PY_DEF.match(lines[j])
                    if d and len(d["indent"]) < def_indent:
                        break
                return name
        return "this part"
    for i in range(at - 1, -1, -1):
        joined = " ".join(lines[i:at])
        m = _C_FUNC.search(joined)
        if m and ("__global__" in lines[i] or "__device__" in lines[i]):
            return m["name"]
    return "this function"


def stub_lines(region: Region) -> list[str]:
    """The lines that replace a region in the student release (deterministic: ``reveal`` searches for them)."""
    task = get_task(region.task)
    where = f"{region.function} in {region.path}"
    hint = f"see notebooks/assignments/{task.notebook}"
    if region.path.endswith(".py"):
        message = f"task {task.id}: {task.title} - implement {where}"
        assert '"' not in message and "\\" not in message, message
        return [f"{region.indent}# TODO (task {task.id}): your code here ({hint})",
                f'{region.indent}raise NotImplementedError("{message}")']
    return [f"{region.indent}// TODO (task {task.id}): {task.title} - implement {where}; {hint}.",
            f"{region.indent}// Until then this part does nothing (a kernel's output keeps its NaN on the emulator)."]


def strip(text: str, path: str, keep: Iterable[str] = ()) -> str:
    """The student version of a file: each region replaced by its stub, except regions of tasks in ``keep``,
    which keep their solution (the fence lines themselves are dropped either way)."""
    keep = {str(k) for k in keep}
    lines = text.split("\n")
    out: list[str] = []
    cursor = 0
    for r in find_regions(text, path):
        out += lines[cursor:r.begin]
        out += list(r.body) if r.task in keep else stub_lines(r)
        cursor = r.end + 1
    out += lines[cursor:]
    return "\n".join(out)


def reveal(release_text: str, solution_text: str, path: str, tasks: Iterable[str]) -> tuple[str, int]:
    """Put the solution of ``tasks`` back into a release file: (new text, number of stubs replaced).

    Each region of those tasks in the solution file is matched, in order, with its stub in the release file.
    A stub that is not there any more (the student replaced it with their own code) is an error naming it.
    """
    tasks = {str(t) for t in tasks}
    lines = release_text.split("\n")
    out: list[str] = []
    cursor = replaced = 0
    for r in find_regions(solution_text, path):
        if r.task not in tasks:
            continue
        stub = stub_lines(r)
        at = _find_block(lines, stub, cursor)
        if at < 0:
            raise FenceError(f"{path}: the stub of task {r.task} in {r.function} is not in the release file any "
                             "more (already revealed, or replaced by the student's code); nothing was changed")
        out += lines[cursor:at] + list(r.body)
        cursor = at + len(stub)
        replaced += 1
    out += lines[cursor:]
    return "\n".join(out), replaced


def _find_block(lines: list[str], block: list[str], start: int) -> int:
    for i in range(start, len(lines) - len(block) + 1):
        if lines[i:i + len(block)] == block:
            return i
    return -1
