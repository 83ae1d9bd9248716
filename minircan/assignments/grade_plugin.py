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

_OUT = os.environ["MINIRCAN_GRADE_EVENTS"]
_tasks: dict[str, str] = {}
_failed: set[str] = set()


def _emit(**event) -> None:
    with open(_OUT, "a") as f:
        f.write(json.dumps(event) + "\n")


def _first_line(longrepr) -> str:
    crash = getattr(longrepr, "reprcrash", None)
    text = crash.message if crash is not None else (longrepr[2] if isinstance(longrepr, tuple) else str(longrepr))
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    line = lines[0] if lines else "failed"
    for prefix in ("AssertionError: ", "Failed: ", "Skipped: "):
        if line.startswith(prefix):
            line = line[len(prefix):]
    return line


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
