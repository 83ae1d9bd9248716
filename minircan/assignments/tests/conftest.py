"""pytest set-up for the task tests: the ``task`` marker, ``--task`` selection, and where minircan comes from.

Every test belongs to exactly one task (``pytestmark = pytest.mark.task("3")`` in its file). Run one task
with ``python -m minircan.assignments grade . --task 3`` (a table with points) or ``python -m pytest tests
--task 3`` (pytest's own report). The tests must exercise the code of the release they belong to, not some
other installed minircan: the session refuses to start if ``import minircan`` finds another copy.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent


def release_root() -> Path:
    """The tree under test: $MINIRCAN_ASSIGNMENT_ROOT (set by the grader), else the folder above tests/ (a
    release), else the repository that holds minircan/assignments/tests (the solution)."""
    if os.environ.get("MINIRCAN_ASSIGNMENT_ROOT"):
        return Path(os.environ["MINIRCAN_ASSIGNMENT_ROOT"]).resolve()
    if (TESTS_DIR.parent / "minircan").is_dir():
        return TESTS_DIR.parent
    return TESTS_DIR.parents[2]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--task", action="append", default=[], metavar="ID",
                     help="run only this task's tests (repeat for several tasks)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "task(id): a course-assignment task's test (python -m minircan.assignments "
                                       "grade)")
    # A stub inside a parallel Numba function has no loop to parallelise; that warning is noise here.
    config.addinivalue_line("filterwarnings", "ignore::numba.core.errors.NumbaPerformanceWarning")
    import minircan

    root, found = release_root(), Path(minircan.__file__).resolve()
    if not found.is_relative_to(root):
        raise pytest.UsageError(
            f"these tests check the code in {root}, but 'import minircan' found {found.parent}. Run them from "
            f"that folder (cd {root} && python -m pytest tests), or with python -m minircan.assignments grade "
            f"{root}; uninstall a non-editable 'pip install' of minircan if it shadows the folder")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    wanted = {str(t) for t in config.getoption("--task")}
    keep, drop = [], []
    for item in items:
        marks = list(item.iter_markers("task"))
        if len(marks) != 1 or len(marks[0].args) != 1:
            raise pytest.UsageError(f"{item.nodeid}: a task test needs exactly one @pytest.mark.task('<id>') marker")
        (keep if not wanted or str(marks[0].args[0]) in wanted else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(autouse=True)
def _record_task(request: pytest.FixtureRequest, record_property) -> None:
    """Tag every test with its task in the grader's JUnit XML."""
    record_property("task", str(request.node.get_closest_marker("task").args[0]))
