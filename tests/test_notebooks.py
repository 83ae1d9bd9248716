"""Execute every notebook in notebooks/ top to bottom; a failing cell fails the test with that cell's error.

Slow (a Jupyter kernel per notebook): marked ``notebook``, deselect with ``-m "not notebook"``.
"""

import os
import re
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = REPO_ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
_ANSI = re.compile(r"\x1b\[[0-9;]*m")  # colour codes in the kernel's tracebacks


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path, monkeypatch):
    # The kernel is a child process and inherits this environment: let it import minircan from the checkout.
    pythonpath = os.environ.get("PYTHONPATH")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(REPO_ROOT), pythonpath) if p))

    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOK_DIR)}})
    error = None
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as err:  # its text: the failing cell and its traceback
        error = _ANSI.sub("", str(err))
    if error is not None:  # outside the except block, so the report is not chained to the kernel's exception
        pytest.fail(f"{path.name}: a cell raised an error\n{error}", pytrace=False)
