"""Course assignments: the student release built from this repository, and the grader.

One release is built per session (module fixture); the grader runs the task tests in subprocesses. Checks:
the release has none of the solution's statements and imports; every stub fails naming its task (CUDA
stubs leave their output untouched); the grader gives 0 points to the release and full marks to the
solution; revealing one task's solution in the release makes exactly that task pass; a bad fence, a
folder that is not a release and an edited copy of the tests are handled.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from minircan.assignments import TASKS, build, fences, grade

REPO_ROOT = Path(__file__).resolve().parent.parent
FENCE_LINE = re.compile(r"^\s*(#|//) (BEGIN|END) SOLUTION", re.MULTILINE)


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("assignments") / "release"
    build.build(out)
    return out


def run_in(folder: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(folder))
    return subprocess.run([sys.executable, *args], cwd=folder, env=env, capture_output=True, text=True, timeout=timeout)


def text_files(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): p.read_text() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.suffix in (".py", ".cu", ".cuh", ".h", ".md", ".ipynb", ".json", ".toml")}


# ----- the release -------------------------------------------------------------------------------------


def test_release_layout(release, tmp_path):
    manifest = json.loads((release / "assignment.json").read_text())
    assert [t["id"] for t in manifest["tasks"]] == [t.id for t in TASKS]
    assert sum(t["points"] for t in manifest["tasks"]) == 100
    for task in TASKS:
        assert (release / "notebooks" / "assignments" / task.notebook).is_file(), task.notebook
        for f in task.files:
            assert (release / f).is_file(), f
    assert sorted(p.name for p in (release / "tests" / "references").iterdir()) == manifest["references"]
    assert {p.name for p in (release / "tests").glob("test_task*.py")} == {
        p.name for p in (REPO_ROOT / "minircan" / "assignments" / "tests").glob("test_task*.py")}
    fresh = tmp_path / "fresh"  # the shared release may have caches by now, written by other tests' runs
    build.build(fresh, check_import=False)
    left_out = [p for p in fresh.rglob("*") if p.name == "__pycache__" or p.suffix in (".nbi", ".nbc", ".so", ".pyc")
                or p.name == "torch_reference.py"]
    assert not left_out, left_out
    assert not (release / "minircan" / "assignments" / "tests").exists()
    for path in sorted((release / "notebooks" / "assignments").glob("*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        assert any("todo" in c["metadata"].get("tags", []) for c in cells), f"{path.name} has no TODO cell"
        assert not any(c.get("outputs") for c in cells), f"{path.name} keeps outputs"
    assert "grade . --task 2" in (release / "README.md").read_text()


def solution_statements() -> tuple[list[fences.Region], set[str]]:
    """Every region of the solution and the statements that are distinctive to the regions (those that do not
    also occur outside every region, such as 'return y')."""
    regions = list(build.find_regions_in(REPO_ROOT))
    outside: set[str] = set()
    for rel in build.source_files(REPO_ROOT):
        if rel.suffix in fences.CODE_SUFFIXES:
            stubbed = fences.strip((REPO_ROOT / rel).read_text(), rel.as_posix())
            outside.update(line.strip() for line in stubbed.split("\n"))
    distinctive = {s for r in regions for s in r.statements if s not in outside}
    return regions, distinctive


def test_release_contains_none_of_the_solution_lines(release):
    regions, distinctive = solution_statements()
    assert {r.task for r in regions} == {t.id for t in TASKS}, "every task has fenced code"
    without = [f"{r.path}:{r.function}" for r in regions if not set(r.statements) & distinctive]
    # A region whose every statement also occurs elsewhere (RCAB.forward's 'return self.body(x) + x' is
    # ResidualGroup's too) cannot be searched for; all others can.
    assert len(without) <= 2, without
    assert len(distinctive) > 150
    # The notebooks' solution cells are the students' too: their lines that occur nowhere else (not in the other
    # cells, not in the code or the tests the release carries).
    common = {line.strip() for text in text_files(release).values() if not text.lstrip().startswith("{")
              for line in text.split("\n")}
    answers: set[str] = set()
    for path in sorted((REPO_ROOT / "notebooks" / "assignments").glob("*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            lines = {s.strip() for s in source.split("\n") if s.strip() and not s.strip().startswith("#")}
            if "solution" in cell.get("metadata", {}).get("tags", []):
                answers |= lines
            else:
                common |= lines
    assert len(answers - common) > 30
    distinctive |= answers - common
    leaks = []
    for name, text in text_files(release).items():
        lines = {line.strip() for line in text.split("\n")}
        if name.endswith(".ipynb"):  # the notebooks' JSON: one string per source line
            for cell in json.loads(text)["cells"]:
                source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
                lines |= {s.strip() for s in source.split("\n")}
        leaks += [f"{name}: {s}" for s in sorted(distinctive & lines)]
        assert not FENCE_LINE.search(text), f"{name} still has a fence line"
    assert not leaks, "solution lines in the release:\n" + "\n".join(leaks[:20])


STUB_CALLS = textwrap.dedent("""
    import json, numpy as np, minircan
    from minircan import autograd, train
    from minircan.kernels import avg_pool, conv2d, pixel_shuffle, relu, sigmoid
    from minircan.models.rcan import RCAB, ChannelAttention
    x4, w4, b = np.ones((1, 1, 3, 3)), np.ones((1, 1, 1, 1)), np.ones(1)
    g4, cols = np.ones((1, 1, 3, 3)), np.ones((1, 1, 9))
    t = minircan.tensor(np.ones(2), requires_grad=True)
    calls = {
        "_GradMode.__enter__": lambda: minircan.no_grad().__enter__(),
        "_GradMode.__exit__": lambda: minircan.no_grad().__exit__(None, None, None),
        "topological_order": lambda: autograd.topological_order((t * 2).grad_fn),
        "backward": lambda: (t * 2).sum().backward(),
        "im2col": lambda: conv2d.im2col(x4, cols, 1, 1, 1, 1, 0, 0),
        "col2im": lambda: conv2d.col2im(cols, np.empty_like(x4), 1, 1, 1, 1, 0, 0),
        "forward": lambda: conv2d.forward(x4, w4, b, (1, 1), (0, 0)),
        "backward_input": lambda: conv2d.backward_input(g4, w4, x4.shape, (1, 1), (0, 0)),
        "backward_params": lambda: conv2d.backward_params(g4, x4, w4.shape, (1, 1), (0, 0)),
        "backward_bias": lambda: conv2d.backward_bias(g4),
        "forward_naive": lambda: conv2d.forward_naive(x4, w4, b, 1, 1, 0, 0),
        "backward_input_naive": lambda: conv2d.backward_input_naive(g4, w4, 3, 3, 1, 1, 0, 0),
        "backward_weight_naive": lambda: conv2d.backward_weight_naive(g4, x4, 1, 1, 1, 1, 0, 0),
        "relu._forward": lambda: relu.forward(x4), "relu._backward": lambda: relu.backward(g4, x4),
        "sigmoid._forward": lambda: sigmoid.forward(x4), "sigmoid._backward": lambda: sigmoid.backward(g4, x4),
        "avg_pool._forward": lambda: avg_pool.forward(x4),
        "avg_pool._backward": lambda: avg_pool.backward(np.ones((1, 1, 1, 1)), x4.shape),
        "_shuffle": lambda: pixel_shuffle.pixel_shuffle(np.ones((1, 4, 2, 2)), 2),
        "_unshuffle": lambda: pixel_shuffle.pixel_unshuffle(np.ones((1, 1, 4, 4)), 2),
        "ChannelAttention.__init__": lambda: ChannelAttention(4, 2),
        "ChannelAttention.weights": lambda: ChannelAttention.weights(None, None),
        "ChannelAttention.forward": lambda: ChannelAttention.forward(None, None),
        "RCAB.__init__": lambda: RCAB(4, 2),
        "RCAB.forward": lambda: RCAB.forward(None, None),
        "Trainer.train_step": lambda: train.Trainer.train_step(None),
    }
    messages = {}
    for name, call in calls.items():
        try:
            call()
            messages[name] = "no error"
        except NotImplementedError as e:
            messages[name] = str(e)
    from minircan.kernels.cuda import CudaKernels
    from minircan.kernels.emulator import EmulatorRuntime
    k = CudaKernels(EmulatorRuntime())
    cuda = {"sigmoid_forward": k.sigmoid_forward(np.ones(5)),
            "sigmoid_backward": k.sigmoid_backward(np.ones(5), np.ones(5)),
            "conv2d_forward_simple": k.conv2d_forward_simple(x4, w4, b, (1, 1), (0, 0))}
    print(json.dumps({"messages": messages, "cuda_all_nan": {n: bool(np.isnan(v).all()) for n, v in cuda.items()},
                      "file": minircan.__file__}))
""")


def test_release_imports_and_every_stub_names_its_task(release):
    proc = run_in(release, "-c", STUB_CALLS)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert Path(report["file"]).resolve().is_relative_to(release.resolve())
    regions, _ = solution_statements()
    python_regions = {r for r in regions if r.path.endswith(".py")}
    for r in python_regions:
        short = r.function if r.function not in ("_forward", "_backward") else f"{Path(r.path).stem}.{r.function}"
        assert short in report["messages"], f"no call exercises the stub of {r.function} in {r.path}"
        message = report["messages"][short]
        assert message.startswith(f"task {r.task}: ") and r.path in message, f"{short}: {message}"
    assert len(report["messages"]) == len(python_regions)
    cu_regions = {r.function for r in regions if r.path.endswith(".cu")}
    assert cu_regions == set(report["cuda_all_nan"]), cu_regions
    assert all(report["cuda_all_nan"].values()), report["cuda_all_nan"]  # stubs leave the output untouched


# ----- grading -----------------------------------------------------------------------------------------


def test_untouched_release_scores_zero(release):
    proc = run_in(release, "-m", "minircan.assignments", "grade", str(release), "--json")
    assert proc.returncode == 1, proc.stderr
    result = json.loads(proc.stdout)
    assert result["earned"] == 0 and result["possible"] == 100
    for task in result["tasks"]:
        assert task["status"] == "failed" and task["passed_tests"] == 0 and task["tests"], task
        reason = task["reason"]
        assert (f"task {task['id']}:" in reason) if task["id"] != "6" else "NaN" in reason, reason


def test_solution_scores_full_marks():
    proc = subprocess.run([sys.executable, "-m", "minircan.assignments", "grade", str(REPO_ROOT)], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "100/100" in proc.stdout.splitlines()[-1], proc.stdout
    assert proc.stdout.count("passed") == len(TASKS)


@pytest.mark.parametrize("task", [t.id for t in TASKS])
def test_revealing_one_task_makes_exactly_that_task_pass(release, tmp_path, task):
    copy = tmp_path / "student"
    shutil.copytree(release, copy)
    changed = build.reveal_tasks(copy, [task])
    assert changed and all(n > 0 for _, n in changed)
    results = {r.id: r for r in grade.grade(copy)}
    assert results[task].status == "passed", grade.table(list(results.values()))
    for other, r in results.items():
        if other != task:
            assert r.earned == 0 and r.passed == 0, grade.table(list(results.values()))


def test_grader_uses_a_pristine_copy_of_the_tests_when_asked(release, tmp_path):
    copy = tmp_path / "student"
    shutil.copytree(release, copy)
    (copy / "tests" / "test_task1_autograd.py").write_text(
        "import pytest\n\n\n@pytest.mark.task('1')\ndef test_nothing():\n    pass\n")
    assert grade.grade(copy, ["1"])[0].status == "passed"  # the student's edited copy
    (pristine,) = grade.grade(copy, ["1"], tests_from=release)
    assert pristine.status == "failed" and pristine.passed == 0 and "task 1:" in pristine.reason


def test_a_crashing_test_costs_only_its_task(release, tmp_path):
    copy = tmp_path / "student"
    shutil.copytree(release, copy)
    tests = copy / "tests" / "test_task4_activations_pooling_shuffle.py"
    tests.write_text(tests.read_text() + "\n\ndef test_crash():\n    import os\n    os._exit(77)\n")
    build.reveal_tasks(copy, ["1"])
    results = {r.id: r for r in grade.grade(copy, ["1", "4", "5"])}
    assert results["1"].status == "passed", grade.table(list(results.values()))
    assert results["4"].status == "crashed" and "test_crash" in results["4"].reason, results["4"]
    assert results["5"].status == "failed" and results["5"].tests, results["5"]


def test_grader_refuses_what_is_not_a_release(tmp_path):
    with pytest.raises(grade.GradeError, match="no minircan/ package"):
        grade.grade(tmp_path)
    (tmp_path / "minircan").mkdir()
    (tmp_path / "minircan" / "__init__.py").write_text("")
    with pytest.raises(grade.GradeError, match="not a student release"):
        grade.grade(tmp_path)
    with pytest.raises(ValueError, match="unknown task '9'"):
        grade.grade(REPO_ROOT, ["9"])


def test_build_refuses_to_overwrite(tmp_path, release):
    (tmp_path / "notes.txt").write_text("keep me")
    with pytest.raises(build.BuildError, match="not empty"):
        build.build(tmp_path)
    with pytest.raises(build.BuildError, match="nothing was deleted"):
        build.build(tmp_path, force=True)
    assert (tmp_path / "notes.txt").read_text() == "keep me"
    copy = tmp_path / "student"
    shutil.copytree(release, copy)
    build.reveal_tasks(copy, ["2"])
    with pytest.raises(fences.FenceError, match="already revealed"):
        build.reveal_tasks(copy, ["2"])


# ----- fences ------------------------------------------------------------------------------------------

SOURCE = """def f(x):
    \"\"\"doc\"\"\"
    # BEGIN SOLUTION (task 2)
    y = x + 1
    return y
    # END SOLUTION


class A:
    def g(self):
        # BEGIN SOLUTION (task 5)
        return 3
        # END SOLUTION
"""


def test_strip_and_reveal_round_trip():
    released = fences.strip(SOURCE, "kernels/f.py")
    assert "y = x + 1" not in released and "return 3" not in released
    assert 'raise NotImplementedError("task 2: conv2d forward - implement f in kernels/f.py")' in released
    assert "implement A.g in kernels/f.py" in released
    namespace: dict = {}
    exec(compile(released, "f.py", "exec"), namespace)
    with pytest.raises(NotImplementedError, match="task 5"):
        namespace["A"]().g()
    text, n = fences.reveal(released, SOURCE, "kernels/f.py", ["2"])
    assert n == 1 and text == fences.strip(SOURCE, "kernels/f.py", keep=["2"])
    with pytest.raises(fences.FenceError, match="not in the release file any more"):
        fences.reveal(text, SOURCE, "kernels/f.py", ["2"])
    cuda = "__device__ void k(float* y) {\n    // BEGIN SOLUTION (task 6)\n    y[0] = 1;\n    // END SOLUTION\n}\n"
    stubbed = fences.strip(cuda, "kernels/k.cu")
    assert "y[0] = 1" not in stubbed and "// TODO (task 6): CUDA kernels - implement k in kernels/k.cu" in stubbed


@pytest.mark.parametrize("bad,message", [
    ("    # BEGIN SOLUTION (task 2)\n    # BEGIN SOLUTION (task 2)\n", "do not nest"),
    ("    # BEGIN SOLUTION (task 2)\nx = 1\n", "without a matching END"),
    ("    # END SOLUTION\n", "END without a BEGIN"),
    ("    # BEGIN SOLUTION\n", "malformed"),
    ("    # BEGIN SOLUTION (task 9)\n    # END SOLUTION\n", "unknown task '9'"),
    ("    // BEGIN SOLUTION (task 2)\n    // END SOLUTION\n", "not '//'"),
])
def test_bad_fences_are_named(bad, message):
    with pytest.raises(fences.FenceError, match=message):
        fences.find_regions(bad, "kernels/x.py")


# ----- the assignment notebooks, filled in (the solution) ---------------------------------------------

# Task 7's notebook trains twice (its test cell and its picture: about 35 s here); it is left to be run by hand.
FAST_NOTEBOOKS = sorted(p for p in (REPO_ROOT / "notebooks" / "assignments").glob("task*.ipynb")
                        if not p.name.startswith("task7"))


@pytest.mark.notebook
@pytest.mark.parametrize("path", FAST_NOTEBOOKS, ids=[p.name for p in FAST_NOTEBOOKS])
def test_solution_notebook_runs(path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])))
    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(path.parent)}})
    error = None
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as err:
        error = re.sub(r"\x1b\[[0-9;]*m", "", str(err))
    if error is not None:
        pytest.fail(f"{path.name}: a cell raised an error\n{error}", pytrace=False)
    text = "".join(o.get("text", "") for c in notebook.cells for o in c.get("outputs", []))
    assert "passed" in text and "failed" not in text, f"{path.name}: its test cell did not pass:\n{text[:2000]}"
