"""``grade``: run the task tests against a tree and score them, task by task.

    python -m minircan.assignments grade DIR [--task T ...] [--json] [--tests RELEASE]

DIR is a student release (built by ``build``, it has ``assignment.json``) or the solution repository itself
(the task tests are then taken from ``minircan/assignments/tests`` and the reference values computed on the
spot). The tests run in a separate Python with DIR first on its path, so they exercise DIR's code and not
whichever minircan is installed (the tests' conftest checks that). ``--tests RELEASE`` takes the tests and
reference values from a pristine release instead of from DIR: what an instructor does with a student's
submission, whose copy of the tests may have been edited.

Scoring: a task's points are shared equally by its tests; a task is "passed" when all its tests pass, and
the exit code is 0 only when every graded task is. All tasks run in one pytest process; if that process
dies (a crash in compiled code), the tasks it did not finish are run again one process each, so that a
crash costs only its own task.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import fences
from .tasks import TASKS, get_task

MANIFEST = "assignment.json"
DEFAULT_TIMEOUT = 300.0  # seconds a task's tests may run (task 7 trains for about 40 s on 2 cores)
TRAINING_CACHE_ENV = "MINIRCAN_TRAINING_CACHE"  # see test_task7_training.py; set only by grade(training_cache=)


class GradeError(RuntimeError):
    """The folder cannot be graded (not a release, missing tests); the message says what to pass instead."""


@dataclass
class TestResult:
    name: str
    outcome: str  # passed, failed, skipped, not run
    reason: str = ""


@dataclass
class TaskResult:
    id: str
    title: str
    points: int
    earned: float = 0.0
    status: str = "not run"  # passed, failed, crashed, timed out, not run
    reason: str = ""
    tests: list[TestResult] = field(default_factory=list)

    @property
    def passed(self) -> int:
        return sum(t.outcome == "passed" for t in self.tests)


@dataclass(frozen=True)
class Layout:
    """Where the code under test, the task tests and their reference values are."""

    root: Path
    tests: Path
    references: Path | None  # None: compute them from root (the solution repository)


def locate(folder: str | Path, tests_from: str | Path | None = None) -> Layout:
    """The Layout of a release or of the solution repository; a GradeError saying what is wrong otherwise."""
    root = Path(folder).resolve()
    if not root.is_dir():
        raise GradeError(f"{folder} is not a folder; pass the student release (the folder with {MANIFEST})")
    if not (root / "minircan" / "__init__.py").is_file():
        raise GradeError(f"{root} has no minircan/ package; pass the root of a student release (the folder with "
                         f"{MANIFEST}, minircan/ and tests/)")
    if tests_from is not None:
        source = Path(tests_from).resolve()
        if not (source / MANIFEST).is_file():
            raise GradeError(f"--tests {tests_from}: not a release built by 'python -m minircan.assignments build' "
                             f"(no {MANIFEST})")
        return Layout(root, source / "tests", source / "tests" / "references")
    if (root / MANIFEST).is_file():
        return Layout(root, root / "tests", root / "tests" / "references")
    solution_tests = root / "minircan" / "assignments" / "tests"
    if solution_tests.is_dir() and _has_fences(root):
        return Layout(root, solution_tests, None)
    raise GradeError(f"{root} is not a student release (no {MANIFEST}) nor the solution repository; pass the folder "
                     "that 'python -m minircan.assignments build OUT' wrote (OUT), or a student's copy of it")


def _has_fences(root: Path) -> bool:
    path = root / "minircan" / "autograd.py"
    return path.is_file() and bool(fences.find_regions(path.read_text(), "minircan/autograd.py"))


def grade(folder: str | Path, tasks: list[str] | None = None, tests_from: str | Path | None = None,
          timeout: float = DEFAULT_TIMEOUT, python: str = sys.executable, progress: Progress | None = None,
          training_cache: str | Path | None = None) -> list[TaskResult]:
    """Run the tests of ``tasks`` (default: all) against the tree in ``folder``; one TaskResult per task.

    timeout: seconds one task's tests may run. progress: where to report while they run (the command line
    passes Progress(); None says nothing). training_cache: a folder where task 7's test keeps the outcome of
    its training run, keyed by the training code's source, so that grading the same code twice in one session
    trains once (the project's own tests use it; a grade from the command line always trains).
    """
    layout = locate(folder, tests_from)
    wanted = {get_task(t).id for t in tasks} if tasks else None
    selected = [t for t in TASKS if wanted is None or t.id in wanted]
    results = {t.id: TaskResult(t.id, t.title, t.points) for t in selected}
    with tempfile.TemporaryDirectory(prefix="minircan-grade-") as tmp:
        tmp_path = Path(tmp)
        refs = layout.references or _compute_references(layout.root, tmp_path / "references", python,
                                                        max(timeout, 600.0))
        if not refs.is_dir():
            raise GradeError(f"{refs}: the reference values are missing; rebuild the release")
        shutil.copyfile(Path(__file__).with_name("grade_plugin.py"), tmp_path / "_minircan_grade_plugin.py")
        (tmp_path / "pytest.ini").write_text("[pytest]\n")  # the graded tree's own pytest settings do not apply
        cache = Path(training_cache).resolve() if training_cache is not None else None
        run = _Runner(layout, refs, tmp_path, python, progress, cache)
        pending = [t.id for t in selected]
        outcome = run(pending, timeout)
        _collect(results, outcome)
        unfinished = [t for t in pending if _unfinished(results[t], outcome)]
        if outcome.timed_out_task in unfinished:  # it had its time: mark it, rerun only the others
            _mark_broken(results[outcome.timed_out_task], outcome)
            unfinished.remove(outcome.timed_out_task)
        if not outcome.finished and outcome.error is None and unfinished:
            for task in unfinished:  # the shared process died or was stopped: give each unfinished task its own
                results[task].tests = []
                single = run([task], timeout)
                _collect(results, single)
                if not single.finished:
                    _mark_broken(results[task], single)
        elif not outcome.finished:
            for task in unfinished:
                _mark_broken(results[task], outcome)
    for r in results.values():
        _score(r)
    return list(results.values())


def _compute_references(root: Path, dest: Path, python: str, timeout: float) -> Path:
    """Reference values computed by the solution tree at root (in its own Python, root first on the path)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])))
    proc = subprocess.run([python, "-m", "minircan.assignments", "references", str(dest)], cwd=root, env=env,
                          capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise GradeError(f"computing the reference values from {root} failed:\n{proc.stderr.strip()[-2000:]}")
    return dest


@dataclass
class _Outcome:
    collected: dict[str, str] = field(default_factory=dict)  # nodeid -> task
    results: dict[str, TestResult] = field(default_factory=dict)
    started: list[str] = field(default_factory=list)
    collect_errors: list[tuple[str, str]] = field(default_factory=list)
    finished: bool = False
    returncode: int | None = None
    timed_out: bool = False
    limit: float = 0.0  # the seconds a task was allowed
    timed_out_task: str | None = None  # the task that ran past its time (the process was stopped)
    error: str | None = None  # pytest could not run at all (the tree does not import, a usage error)


class _Runner:
    """Runs the task tests of some tasks in one pytest process and reads back what the plugin recorded.

    While it runs, the events file is read every half second: a progress line says which task and test
    are running, and a task that runs longer than ``timeout`` seconds stops the process (it is then
    marked "timed out"; the other unfinished tasks are rerun by grade()).
    """

    def __init__(self, layout: Layout, refs: Path, tmp: Path, python: str, progress: Progress | None = None,
                 training_cache: Path | None = None):
        self.layout, self.refs, self.tmp, self.python = layout, refs, tmp, python
        self.progress, self.training_cache = progress, training_cache
        self.count = 0

    def _report_finished(self, seen: _Outcome, shown: set[str], current: str | None) -> None:
        """A progress line for each task that started, and maybe ended, between two reads of the events: a fast
        task would otherwise leave no line in a log."""
        if self.progress is None:
            return
        for t in dict.fromkeys(seen.collected[n] for n in seen.started if n in seen.collected):
            if t not in shown and t != current:
                shown.add(t)
                self.progress.update(t, *_counts(seen, t), None, None)

    def __call__(self, tasks: list[str], timeout: float) -> _Outcome:
        self.count += 1
        events = self.tmp / f"events-{self.count}.jsonl"
        log_path = self.tmp / f"log-{self.count}.txt"
        root = str(self.layout.root)
        env = {k: v for k, v in os.environ.items() if k != TRAINING_CACHE_ENV}  # only grade() may set it
        env.update(MINIRCAN_GRADE_EVENTS=str(events), MINIRCAN_ASSIGNMENT_ROOT=root,
                   MINIRCAN_REFERENCES=str(self.refs),
                   PYTHONPATH=os.pathsep.join(filter(None, [root, str(self.tmp), os.environ.get("PYTHONPATH")])))
        if self.training_cache is not None:
            env[TRAINING_CACHE_ENV] = str(self.training_cache)
        cmd = [self.python, "-m", "pytest", str(self.layout.tests), "-c", str(self.tmp / "pytest.ini"),
               "--rootdir", str(self.layout.tests), "-p", "no:cacheprovider", "-p", "_minircan_grade_plugin",
               "-q", "--no-header", "-rN"] + [a for t in tasks for a in ("--task", t)]
        out = _Outcome(limit=timeout)
        with open(log_path, "w") as log_file:
            proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=log_file, stderr=subprocess.STDOUT,
                                    start_new_session=True)
            task, since = None, time.monotonic()
            shown: set[str] = set()  # the tasks a progress line has named
            while True:
                try:
                    proc.wait(timeout=0.5)
                    break
                except subprocess.TimeoutExpired:
                    pass
                seen = _Outcome()
                _read_events(events, seen)
                running = next((n for n in reversed(seen.started) if n not in seen.results), None)
                current = seen.collected.get(running) if running else None
                self._report_finished(seen, shown, current)
                if current != task and current is not None:
                    task, since = current, time.monotonic()
                if task is not None:
                    shown.add(task)
                    done, total = _counts(seen, task)
                    elapsed = time.monotonic() - since
                    if self.progress is not None:
                        self.progress.update(task, done, total, running, elapsed)
                    if elapsed > timeout:
                        _kill(proc)
                        out.timed_out, out.timed_out_task = True, task
                        break
            out.returncode = proc.returncode if not out.timed_out else None
        log = log_path.read_text(errors="replace")
        _read_events(events, out)
        if not out.timed_out:
            self._report_finished(out, shown, None)
        if self.progress is not None:
            self.progress.clear()
        never_started = not out.collected and not out.finished and not out.timed_out
        if never_started and out.returncode is not None and out.returncode >= 0:
            out.error = _last_error_line(log) or f"pytest exited with status {out.returncode}"
        return out


def _kill(proc: subprocess.Popen) -> None:
    """Stop the test process and whatever it started (its own session)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()
    proc.wait()


class Progress:
    """One line on stderr while the tests run: the task, its tests done, the running test, the seconds.

    On a terminal the line is rewritten in place; otherwise a line is printed when a task starts and then
    every ``every`` seconds (a log stays readable)."""

    def __init__(self, stream=None, every: float = 30.0):
        self.stream = stream if stream is not None else sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.every, self.last_task, self.last_print, self.width = every, None, 0.0, 0

    def update(self, task: str, done: int, total: int, running: str | None, elapsed: float | None) -> None:
        line = f"grading task {task}: {done}/{total} tests done"
        if elapsed is not None:
            line += f", {elapsed:.0f} s"
        if running:
            line += f"; running {running.split('::')[-1]}"
        now = time.monotonic()
        if self.tty:
            self.stream.write("\r" + line[:120].ljust(self.width))
            self.width = min(120, len(line))
        elif task != self.last_task or now - self.last_print >= self.every:
            self.stream.write(line + "\n")
            self.last_print = now
        else:
            return
        self.last_task = task
        self.stream.flush()

    def clear(self) -> None:
        if self.tty and self.width:
            self.stream.write("\r" + " " * self.width + "\r")
            self.stream.flush()
            self.width = 0


def _counts(seen: _Outcome, task: str) -> tuple[int, int]:
    """(tests of ``task`` finished, tests of ``task`` collected) in what the events say so far."""
    done = sum(1 for n, t in seen.collected.items() if t == task and n in seen.results)
    return done, sum(1 for t in seen.collected.values() if t == task)


def _read_events(path: Path, out: _Outcome) -> None:
    if not path.is_file():
        return
    for line in path.read_text().splitlines():
        try:
            e = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short by a crash
        kind = e.get("event")
        if kind == "collected":
            out.collected.update(e["tests"])
        elif kind == "start":
            out.started.append(e["nodeid"])
        elif kind == "result":
            previous = out.results.get(e["nodeid"])
            if previous is None or previous.outcome == "passed":  # a failed teardown overrides a passed call
                out.results[e["nodeid"]] = TestResult(e["nodeid"], e["outcome"], e["reason"])
        elif kind == "collect_error":
            out.collect_errors.append((e["path"], e["reason"]))
        elif kind == "finished":
            out.finished = True


def _last_error_line(log: str) -> str:
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    for line in reversed(lines):
        if "Error" in line or "error" in line:
            return line.removeprefix("INTERNALERROR>").lstrip("E ").strip()
    return lines[-1] if lines else ""


def _task_of_path(path: str) -> str | None:
    name = Path(path.split("::")[0]).name
    if name.startswith("test_task"):
        digits = name[len("test_task"):].split("_")[0]
        return digits or None
    return None


def _collect(results: dict[str, TaskResult], outcome: _Outcome) -> None:
    for nodeid, task in outcome.collected.items():
        if task in results:
            results[task].tests.append(outcome.results.get(nodeid, TestResult(nodeid, "not run")))
    for path, reason in outcome.collect_errors:
        task = _task_of_path(path)
        targets = [results[task]] if task in results else list(results.values())
        for r in targets:
            r.tests.append(TestResult(path, "failed", f"the tests could not be collected: {reason}"))
    if outcome.error is not None:
        for r in results.values():
            if not r.tests:
                r.status, r.reason = "failed", f"the tests could not run: {outcome.error}"


def _unfinished(result: TaskResult, outcome: _Outcome) -> bool:
    return not result.tests or any(t.outcome == "not run" for t in result.tests)


def _mark_broken(result: TaskResult, outcome: _Outcome) -> None:
    last = next((n for n in reversed(outcome.started) if n not in outcome.results), None)
    where = f" in {last.split('::')[-1]}" if last else ""
    if outcome.timed_out:
        result.status = "timed out"
        result.reason = (f"the tests did not finish in {outcome.limit:.0f} s{where} (an endless loop? "
                         "--timeout S allows more)")
    else:
        code = outcome.returncode
        how = f"signal {-code}" if code is not None and code < 0 else f"exit status {code}"
        result.status, result.reason = "crashed", (f"the test process died ({how}){where}: an out-of-bounds access "
                                                   "in a compiled kernel?")


def _score(result: TaskResult) -> None:
    total = len(result.tests)
    if result.status in ("crashed", "timed out") or (result.status == "failed" and not total):
        result.earned = 0.0
        return
    if total == 0:
        result.status, result.reason = "failed", result.reason or "no tests were found for this task"
        return
    result.earned = round(result.points * result.passed / total, 1)
    if result.passed == total:
        result.status, result.reason = "passed", ""
    else:
        result.status = "failed"
        first = next(t for t in result.tests if t.outcome != "passed")
        result.reason = first.reason or first.outcome


def total(results: list[TaskResult]) -> tuple[float, int]:
    """(points earned, points possible) over the graded tasks."""
    return round(sum(r.earned for r in results), 1), sum(r.points for r in results)


def table(results: list[TaskResult], width: int = 100) -> str:
    """The grade as a text table: task, title, points, result, and the first line of the first failure."""
    lines = [f"{'task':<5} {'title':<46} {'points':>9}  {'result':<13} reason"]
    for r in results:
        result = r.status if r.status in ("passed", "crashed", "timed out") else f"{r.status} {r.passed}/{len(r.tests)}"
        reason = r.reason.replace(f"task {r.id}: {r.title} - ", f"task {r.id}: ", 1)  # a stub's message, shorter
        reason = reason if len(reason) <= width else reason[:width - 3] + "..."
        lines.append(f"{r.id:<5} {r.title:<46} {_num(r.earned):>5}/{r.points:<3}  {result:<13} {reason}".rstrip())
    earned, possible = total(results)
    lines.append(f"{'total':<52} {_num(earned):>5}/{possible}")
    return "\n".join(lines)


def _num(x: float) -> str:
    return f"{x:g}"


def as_json(results: list[TaskResult], folder: str | Path) -> str:
    """The grade for a gradebook: every task with its tests, their outcomes and reasons."""
    earned, possible = total(results)
    return json.dumps({"folder": str(Path(folder).resolve()), "earned": earned, "possible": possible,
                       "tasks": [dict(asdict(r), passed_tests=r.passed) for r in results]}, indent=2)
