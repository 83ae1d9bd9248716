"""The grader's pytest plugin: one JSON line per event, written as the tests run.

The grader copies this file next to its temporary files and loads it with ``-p``, so that what records the
results is the grader's own code, not the graded tree's. Lines are flushed one by one: if a test crashes the
process (a Numba kernel writing out of bounds can), everything before it is kept, and the last "start"
line names the test that crashed. Events:
    {"event": "collected", "tests": {nodeid: task}}
    {"event": "start", "nodeid": ...}
    {"event": "result", "nodeid": ..., "task": ..., "outcome": "passed" | "failed" | "skipped", "reason": ...}
    {"event": "collect_error", "path": ..., "reason": ...}
    {"event": "finished", "exitstatus": ...}
"""

import json
import os

_OUT = os.environ.get("MINIRCAN_GRADE_EVENTS", os.devnull)
_tasks: dict[str, str] = {}
_failed: set[str] = set()


def _emit(**event) -> None:
    with open(_OUT, "a") as f:
        f.write(json.dumps(event) + "\n")


_PREFIXES = ("AssertionError:", "Failed:", "Skipped:", "E ")
_NUMPY_HEADER = "Not equal to tolerance"
_NUMBA_HEADER = "Failed in nopython mode pipeline"


def _first_line(longrepr) -> str:
    crash = getattr(longrepr, "reprcrash", None)
    text = crash.message if crash is not None else (longrepr[2] if isinstance(longrepr, tuple) else str(longrepr))
    return summary(str(text))


def summary(text: str) -> str:
    """The line of a failure that says what is wrong, for the grader's table.

    An assertion's own message when it has one (an empty 'AssertionError:' line is skipped: NumPy's
    assert_allclose puts the err_msg on a later line, after 'Not equal to tolerance'); for Numba's
    TypingError, the line under 'Failed in nopython mode pipeline' that names the problem (e.g. "Untyped
    global name 'foo'") and the file and line where it is.
    """
    lines = [line.strip() for line in text.splitlines()]
    lines = [line for line in lines if line]
    for i, line in enumerate(lines):
        for prefix in _PREFIXES:
            if line.startswith(prefix):
                line = line[len(prefix):].strip()
        lines[i] = line
    lines = [line for line in lines if line]
    if not lines:
        return "failed"
    if _NUMBA_HEADER in lines[0]:
        detail = next((line for line in lines[1:] if not line.startswith(("During:", "File ", "^", "- Resolution"))
                       and _NUMBA_HEADER not in line), "")
        where = next((line for line in lines if line.startswith("File ")), "")
        kind = lines[0].split(":", 1)[0] if ":" in lines[0] else "TypingError"
        parts = [f"{kind.rsplit('.', 1)[-1]} (Numba): {detail}" if detail else lines[0], where.rstrip(":")]
        return " ".join(p for p in parts if p)
    if lines[0].startswith(_NUMPY_HEADER):
        tolerance = lines[0]
        rest = [line for line in lines[1:] if not line.startswith(("Mismatched elements", "Max absolute",
                                                                   "Max relative", "x:", "y:", "ACTUAL:",
                                                                   "DESIRED:"))]
        worst = next((line for line in lines if line.startswith("Max relative")), "")
        message = rest[0] if rest else ""
        return "; ".join(p for p in (message, tolerance.lower(), worst.lower()) if p)
    return lines[0]


def pytest_collection_modifyitems(config, items) -> None:
    for item in items:
        marker = item.get_closest_marker("task")
        _tasks[item.nodeid] = str(marker.args[0]) if marker is not None and marker.args else "?"


def pytest_collection_finish(session) -> None:
    _emit(event="collected", tests={item.nodeid: _tasks.get(item.nodeid, "?") for item in session.items})


def pytest_collectreport(report) -> None:
    if report.failed:
        _emit(event="collect_error", path=str(report.nodeid), reason=_first_line(report.longrepr))


def pytest_runtest_logstart(nodeid, location) -> None:
    _emit(event="start", nodeid=nodeid)


def pytest_runtest_logreport(report) -> None:
    task = _tasks.get(report.nodeid, "?")
    if report.failed and report.nodeid not in _failed:
        _failed.add(report.nodeid)  # the first failure of a test (call, or setup / teardown) is its reason
        _emit(event="result", nodeid=report.nodeid, task=task, outcome="failed", reason=_first_line(report.longrepr))
    elif report.when == "call" and report.passed:
        _emit(event="result", nodeid=report.nodeid, task=task, outcome="passed", reason="")
    elif report.skipped:
        _emit(event="result", nodeid=report.nodeid, task=task, outcome="skipped", reason=_first_line(report.longrepr))


def pytest_sessionfinish(session, exitstatus) -> None:
    _emit(event="finished", exitstatus=int(exitstatus))
