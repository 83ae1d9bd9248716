"""The assignment notebooks' student versions: solution cells become TODO cells, and outputs are cleared.

In the solution repository, ``notebooks/assignments/taskN_*.ipynb`` are complete. A cell that is the
student's to write carries the tag ``solution`` and, in its metadata, ``"assignment": {"todo": "what to do"}``.
In the release such a cell becomes a TODO cell that says what to do: for code, a comment and
``raise NotImplementedError``; for Markdown, an answer placeholder. The notebook's own metadata names its task
(``"assignment": {"task": "2"}``). Plain JSON is read and written (no Jupyter needed to build).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from .tasks import get_task

SOLUTION_TAG = "solution"


class NotebookError(ValueError):
    """A solution notebook that cannot be turned into its student version (no task, a cell without its TODO)."""


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def solution_cells(nb: dict) -> list[dict]:
    """The cells tagged as the student's to write."""
    return [c for c in nb["cells"] if SOLUTION_TAG in c.get("metadata", {}).get("tags", [])]


def notebook_task(nb: dict, path: str | Path) -> str:
    task = nb.get("metadata", {}).get("assignment", {}).get("task")
    if task is None:
        raise NotebookError(f"{path}: the notebook's metadata has no 'assignment': {{'task': 'N'}}")
    return get_task(task).id


def student_version(nb: dict, path: str | Path, keep: Iterable[str] = ()) -> dict:
    """A copy of the notebook with its solution cells replaced by TODO cells (unless its task is in keep)."""
    task = notebook_task(nb, path)
    keep_solutions = task in {str(k) for k in keep}
    out = json.loads(json.dumps(nb))
    for i, cell in enumerate(out["cells"]):
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
        meta = cell.get("metadata", {})
        if SOLUTION_TAG not in meta.get("tags", []) or keep_solutions:
            continue
        todo = meta.get("assignment", {}).get("todo")
        if not todo:
            raise NotebookError(f"{path}, cell {i}: a '{SOLUTION_TAG}' cell needs metadata "
                                "'assignment': {'todo': 'what the student should do'}")
        meta["tags"] = [t for t in meta["tags"] if t != SOLUTION_TAG] + ["todo"]
        if cell["cell_type"] == "code":
            lines = [f"# TODO (task {task}): {line}".rstrip() for line in todo.split("\n")]
            lines.append(f'raise NotImplementedError("task {task}: this cell is yours to write")')
        else:
            lines = [f"**TODO (task {task})**: {todo}", "", "*Your answer here.*"]
        cell["source"] = "\n".join(lines)
    return out


def write_student_version(src: str | Path, dst: str | Path, keep: Iterable[str] = ()) -> None:
    """Read a solution notebook and write its student version."""
    nb = json.loads(Path(src).read_text())
    Path(dst).write_text(json.dumps(student_version(nb, src, keep), indent=1, ensure_ascii=False) + "\n")
