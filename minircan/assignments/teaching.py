"""The student edition of the step-through notebooks (``notebooks/*.ipynb``): every cell that would show a
solution is cut.

The teaching notebooks are committed with their outputs, and they step through the library, which is the
solution. A cell is cut when its source, or any text it printed or returned (streams, ``text/plain``,
``text/html``, tracebacks), holds a statement of a solution region of a task whose solution is not handed
out: the same statements the build's leak check looks for (``build.solution_statements``). The cell, its
outputs and its pictures are replaced by a Markdown cell that says what was cut and when it comes back. Every
other cell stays as it is, outputs included. Plain JSON is read and written (no Jupyter needed to build).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

CUT_TAG = "cut-solution"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_TAGS = re.compile(r"<[^>]+>")


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value or "")


def cell_lines(cell: dict) -> set[str]:
    """The stripped lines of a cell's source and of every text output it holds."""
    texts = [_text(cell.get("source", ""))]
    for out in cell.get("outputs", []) or []:
        if "text" in out:
            texts.append(_text(out["text"]))
        for mime, value in (out.get("data") or {}).items():
            if mime == "text/plain" or mime == "text/markdown":
                texts.append(_text(value))
            elif mime == "text/html":
                html = _text(value)
                texts.append(html)
                texts.append(_TAGS.sub("", html).replace("&gt;", ">").replace("&lt;", "<").replace("&amp;", "&"))
        if "traceback" in out:
            texts.append(_ANSI.sub("", "\n".join(out["traceback"])))
    # A string shown by its repr (an execute_result of inspect.getsource(f)) has its newlines as '\\n'.
    texts += [t.replace("\\n", "\n").replace("\\'", "'") for t in texts if "\\n" in t]
    return {line.strip().strip("'\"").strip() for text in texts for line in text.split("\n") if line.strip()}


def tasks_shown(cell: dict, statements: Mapping[str, set[str]], keep: Iterable[str] = ()) -> list[str]:
    """The tasks whose solutions this cell shows, sorted: statements maps a statement to the tasks whose
    regions hold it; a statement that is also in a kept task's solution (handed out) shows nothing."""
    keep = {str(k) for k in keep}
    found: set[str] = set()
    for line in cell_lines(cell):
        tasks = statements.get(line, set())
        if not tasks & keep:
            found |= tasks
    return sorted(found, key=lambda t: (len(t), t))


def cut_cell(cell: dict, tasks: list[str]) -> dict:
    """The Markdown cell that stands in for a cut one (keeps its id, so the notebook stays valid)."""
    which = f"task {tasks[0]}" if len(tasks) == 1 else "tasks " + ", ".join(tasks[:-1]) + f" and {tasks[-1]}"
    flags = " ".join(f"--task {t}" for t in tasks)
    new = {"cell_type": "markdown", "metadata": {"tags": [CUT_TAG], "assignment": {"cut_for": tasks}},
           "source": f"*This cell showed the solution of {which} (its code or its output), so it is cut from the "
                     f"students' edition. It returns after the task's deadline (`python -m minircan.assignments "
                     f"reveal DIR {flags}`).*"}
    if "id" in cell:
        new["id"] = cell["id"]
    return new


def student_edition(nb: dict, statements: Mapping[str, set[str]], keep: Iterable[str] = ()) -> tuple[dict, int]:
    """(a copy of the notebook with every cell that shows a solution of a task not in keep cut, cells cut)."""
    out = json.loads(json.dumps(nb))
    cut = 0
    for i, cell in enumerate(out["cells"]):
        tasks = tasks_shown(cell, statements, keep)
        if tasks:
            out["cells"][i] = cut_cell(cell, tasks)
            cut += 1
    return out, cut


def write_student_edition(src: str | Path, dst: str | Path, statements: Mapping[str, set[str]],
                          keep: Iterable[str] = ()) -> int:
    """Read a teaching notebook, write its student edition; returns the number of cells cut."""
    nb = json.loads(Path(src).read_text())
    edition, cut = student_edition(nb, statements, keep)
    Path(dst).write_text(json.dumps(edition, indent=1, ensure_ascii=False) + "\n")
    return cut
