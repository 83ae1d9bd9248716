"""Course assignments: the student release built from this repository, and the grader.

One release is built per session (module fixture); the grader runs the task tests in subprocesses. Checks:
the release has none of the solution's statements and imports; every stub fails naming its task (CUDA
stubs leave their output untouched); the grader gives 0 points to the release and full marks to the
solution; revealing one task's solution in the release makes exactly that task pass; a bad fence, a
folder that is not a release and an edited copy of the tests are handled.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from minircan.assignments import TASKS, build, fences, grade, teaching

REPO_ROOT = Path(__file__).resolve().parent.parent
FENCE_LINE = re.compile(r"^\s*(#|//) (BEGIN|END) SOLUTION", re.MULTILINE)
ALL_TASKS = [t.id for t in TASKS]
# The grader's default (300 s a task) is for a student's machine; a CI machine shared by other jobs can take
# several times longer for task 7's training, and a timeout is not what these tests check (one test does).
TIMEOUT = 1800


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("assignments") / "release"
    build.build(out)
    return out


@pytest.fixture(scope="module")
def solved(release, tmp_path_factory) -> Path:
    """The release with every task's solution revealed (a text substitution: no second build). The planted
    wrong solutions are applied to it one at a time."""
    out = tmp_path_factory.mktemp("solved") / "release"
    shutil.copytree(release, out)
    build.reveal_tasks(out, ALL_TASKS)
    return out


@pytest.fixture(scope="module")
def training_cache(tmp_path_factory) -> Path:
    """Task 7's test keeps its training outcome here, keyed by the training code: the solution and a release
    with task 7 revealed train once between them (grade(training_cache=...))."""
    return tmp_path_factory.mktemp("training-cache")


def run_in(folder: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(folder))
    return subprocess.run([sys.executable, *args], cwd=folder, env=env, capture_output=True, text=True, timeout=timeout)


def json_strings(value) -> list[str]:
    """Every string inside a JSON value (a notebook cell: its source, outputs, tracebacks), lists joined."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return ["".join(value), *value]
    if isinstance(value, list):
        return [s for v in value for s in json_strings(v)]
    if isinstance(value, dict):
        return [s for v in value.values() for s in json_strings(v)]
    return []


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
    readme = (release / "README.md").read_text()
    assert "grade . --task 2" in readme
    # 'grade .' runs ./tests; only the instructor's --tests takes another copy
    assert "its own copy of the tests" not in readme and "--tests" in readme and "`./tests`" in readme


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
        if name.endswith(".ipynb"):  # the notebooks' JSON: every string of every cell, outputs included
            for cell in json.loads(text)["cells"]:
                lines |= {s.strip() for piece in json_strings(cell) for s in piece.split("\n")}
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
            "conv2d_forward_naive": k.conv2d_forward_naive(x4, w4, b, (1, 1), (0, 0)),
            "avg_pool_forward": k.avg_pool_forward(x4)}
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


# ----- the step-through notebooks, student edition ------------------------------------------------------


def region_body(task: str, function: str, path: str = "") -> str:
    (region,) = [r for r in build.find_regions_in(REPO_ROOT)
                 if r.task == task and r.function == function and r.path.endswith(path)]
    return "\n".join(region.body)


def fixture_notebook() -> dict:
    """A teaching notebook with outputs: cells that show solutions in every way a cell can, and cells that don't."""
    png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
    printed = [line + "\n" for line in region_body("2", "forward").split("\n")]  # as print() wrote it
    return {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        {"cell_type": "markdown", "id": "a", "metadata": {}, "source": "# Convolution\nSome theory."},
        {"cell_type": "code", "id": "b", "metadata": {}, "execution_count": 1,
         "source": "import inspect\nprint(inspect.getsource(conv2d.forward))\nplt.imshow(y)",
         "outputs": [{"output_type": "stream", "name": "stdout", "text": printed},
                     {"output_type": "display_data", "metadata": {}, "data": {"image/png": png}}]},
        {"cell_type": "code", "id": "c", "metadata": {}, "execution_count": 2,
         "source": region_body("4", "_backward", "sigmoid.py") + "\n", "outputs": []},
        {"cell_type": "code", "id": "d", "metadata": {}, "execution_count": 3, "source": "backward_source",
         "outputs": [{"output_type": "execute_result", "execution_count": 3, "metadata": {},
                      "data": {"text/plain": repr(region_body("1", "backward"))}}]},
        {"cell_type": "code", "id": "e", "metadata": {}, "execution_count": 4, "source": "y = conv2d.forward(x, w, b)",
         "outputs": [{"output_type": "stream", "name": "stdout", "text": "y: (2, 4, 7, 8)\n"},
                     {"output_type": "display_data", "metadata": {}, "data": {"image/png": png}}]},
        {"cell_type": "code", "id": "f", "metadata": {}, "execution_count": 5, "source": "html",
         "outputs": [{"output_type": "display_data", "metadata": {},
                      "data": {"text/html": "<pre>" + region_body("7", "Trainer.train_step")
                               .replace("<", "&lt;").replace("\n", "<br>\n") + "</pre>"}}]},
    ]}


def test_student_edition_cuts_every_cell_that_shows_a_solution():
    statements = build.solution_statements(REPO_ROOT)
    nb = fixture_notebook()
    _, distinctive = solution_statements()
    assert distinctive == set(statements)  # the build's leak check looks for what this file's tests look for
    edition, cut = teaching.student_edition(nb, statements)
    cells = {c["id"]: c for c in edition["cells"]}
    assert cut == 4 and [c["id"] for c in edition["cells"]] == list("abcdef")
    assert cells["a"] == nb["cells"][0] and cells["e"] == nb["cells"][4]  # untouched, outputs and picture kept
    for cid, task in (("b", "2"), ("c", "4"), ("d", "1"), ("f", "7")):
        cell = cells[cid]
        assert cell["cell_type"] == "markdown" and "outputs" not in cell, cell
        assert task in cell["metadata"]["assignment"]["cut_for"], cell  # forward shares lines with task 3's code
        assert "showed the solution of task" in cell["source"] and f"--task {task}" in cell["source"], cell
    leaked = {s.strip() for c in edition["cells"] for piece in json_strings(c) for s in piece.split("\n")}
    assert not leaked & distinctive, sorted(leaked & distinctive)
    assert not any("image/png" in json.dumps(c) for c in edition["cells"] if c["id"] == "b")
    kept, n = teaching.student_edition(nb, statements, keep=["2", "4"])  # after those deadlines
    assert n == 2 and kept["cells"][1] == nb["cells"][1] and kept["cells"][2] == nb["cells"][2]


def test_build_refuses_a_release_whose_notebook_output_shows_a_solution(release, tmp_path):
    copy = tmp_path / "student"
    shutil.copytree(release, copy)
    statements = build.solution_statements(REPO_ROOT)
    build.verify(copy, check_import=False, statements=statements)  # the release itself is clean
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        {"cell_type": "code", "metadata": {}, "execution_count": 1, "source": "print(source)",
         "outputs": [{"output_type": "stream", "name": "stdout", "text": region_body("3", "col2im")}]}]}
    (copy / "notebooks" / "09_extra.ipynb").write_text(json.dumps(nb))
    with pytest.raises(build.BuildError, match=r"notebooks/09_extra.ipynb: .* \(task 3\)"):
        build.verify(copy, check_import=False, statements=statements)
    build.verify(copy, check_import=False, statements=statements, keep=("3",))  # handed out: no leak


def test_release_carries_the_step_through_notebooks(release):
    manifest = json.loads((release / "assignment.json").read_text())
    names = sorted(p.name for p in (REPO_ROOT / "notebooks").glob("*.ipynb"))
    assert names and sorted(manifest["teaching_notebooks"]) == names
    for name in names:
        original = json.loads((REPO_ROOT / "notebooks" / name).read_text())["cells"]
        edition = json.loads((release / "notebooks" / name).read_text())["cells"]
        assert len(edition) == len(original), name
        cut = [c for c in edition if teaching.CUT_TAG in c["metadata"].get("tags", [])]
        assert len(cut) == manifest["teaching_notebooks"][name]["cells_cut"], name
        kept = [(a, b) for a, b in zip(original, edition) if teaching.CUT_TAG not in b["metadata"].get("tags", [])]
        assert all(a == b for a, b in kept), f"{name}: a cell that shows no solution was changed"


# ----- grading -----------------------------------------------------------------------------------------


def test_untouched_release_scores_zero(release):
    proc = run_in(release, "-m", "minircan.assignments", "grade", str(release), "--json", "--timeout", str(TIMEOUT))
    assert proc.returncode == 1, proc.stderr
    result = json.loads(proc.stdout)
    assert result["earned"] == 0 and result["possible"] == 100
    for task in result["tasks"]:
        assert task["status"] == "failed" and task["passed_tests"] == 0 and task["tests"], task
        reason = task["reason"]
        assert (f"task {task['id']}:" in reason) if task["id"] != "6" else "NaN" in reason, reason


def test_solution_scores_full_marks(training_cache):
    results = grade.grade(REPO_ROOT, timeout=TIMEOUT, training_cache=training_cache)
    assert all(r.status == "passed" for r in results), grade.table(results)
    assert grade.total(results) == (100, 100), grade.table(results)


@pytest.mark.parametrize("task", [t.id for t in TASKS])
def test_revealing_one_task_makes_exactly_that_task_pass(release, tmp_path, task, training_cache):
    copy = tmp_path / "student"
    shutil.copytree(release, copy)
    changed = build.reveal_tasks(copy, [task])
    assert changed and all(n > 0 for _, n in changed)
    for path in sorted((copy / "notebooks").glob("*.ipynb")):  # the step-through notebooks' cells come back
        for cell in json.loads(path.read_text())["cells"]:
            if teaching.CUT_TAG in cell["metadata"].get("tags", []):
                assert cell["metadata"]["assignment"]["cut_for"] != [task], f"{path.name}: a cell of task {task}"
    results = {r.id: r for r in grade.grade(copy, timeout=TIMEOUT, training_cache=training_cache)}
    assert results[task].status == "passed", grade.table(list(results.values()))
    for other, r in results.items():
        if other != task:
            assert r.earned == 0 and r.passed == 0, grade.table(list(results.values()))


# ----- planted wrong solutions: each must cost its task points ------------------------------------------


@dataclass(frozen=True)
class Plant:
    """A plausible wrong solution: ``old`` -> ``new`` inside task ``task``'s fenced regions of ``path``; the
    grade of that task must drop, with ``expect`` in the reason of a failed test."""

    name: str
    task: str
    path: str
    old: str
    new: str
    expect: str


PLANTS = [
    Plant("in-place accumulation (aliasing)", "1", "minircan/autograd.py",
          "grads[parent] = grads[parent] + pg", "grads[parent] += pg", "fan-out through additions"),
    Plant("__exit__ flips the mode instead of restoring it", "1", "minircan/autograd.py",
          "_grad_enabled = self.previous", "_grad_enabled = not self.enabled", "no_grad"),
    Plant("topological order emits a node before its inputs", "1", "minircan/autograd.py",
          "        stack.append((node, True))\n        for parent in node.parents:",
          "        order.append(node)\n        for parent in node.parents:", ""),
    Plant("forward drops the last partial chunk", "2", "kernels/conv2d.py",
          "for n0 in range(0, N, step):", "for n0 in range(0, N - step + 1, step):", "in chunks of 2 images"),
    Plant("im2col rows in (i, j, c) order", "2", "kernels/conv2d.py",
          "r = (c * kh + i) * kw + j\n                for ho in range(Ho):\n                    hi = ho * sh + i - ph\n"
          "                    base",
          "r = (i * kw + j) * C + c\n                for ho in range(Ho):\n                    hi = ho * sh + i - ph\n"
          "                    base", "im2col"),
    Plant("naive loops forget the bias", "2", "kernels/conv2d.py",
          "acc = b[k] if b.size > 0 else 0.0", "acc = 0.0", "forward_naive"),
    Plant("col2im does not reset dx", "3", "kernels/conv2d.py",
          "        for hi in range(H):\n            for wi in range(W):\n                dx[n, c, hi, wi] = 0\n", "",
          "col2im"),
    Plant("weight gradient drops the last partial chunk", "3", "kernels/conv2d.py",
          "for n0 in range(0, N, step):\n        n1 = min(N, n0 + step)\n        im2col(",
          "for n0 in range(0, N - step + 1, step):\n        n1 = min(N, n0 + step)\n        im2col(",
          "in chunks of 2 images"),
    Plant("bias gradient summed over the wrong axes", "3", "kernels/conv2d.py",
          "return g.sum(axis=(0, 2, 3))", "return g.sum(axis=(1, 2, 3))", "conv2d backward_bias"),
    Plant("relu passes the gradient at 0", "4", "kernels/relu.py",
          "dx[i] = g[i] if y[i] > zero else zero", "dx[i] = g[i] if y[i] >= zero else zero", "relu backward"),
    Plant("average pooling skips the first pixel", "4", "kernels/avg_pool.py",
          "for q in range(L):\n            acc += x[p, q]", "for q in range(1, L):\n            acc += x[p, q]",
          "avg_pool forward"),
    Plant("pixel shuffle with i and j swapped", "4", "kernels/pixel_shuffle.py",
          "src = c * r * r + i * r + j", "src = c * r * r + j * r + i", "pixel_shuffle"),
    Plant("RCAB without its skip connection", "5", "minircan/models/rcan.py",
          "return self.body(x) + x", "return self.body(x)", "RCAB"),
    Plant("channel attention with ReLU and sigmoid swapped", "5", "minircan/models/rcan.py",
          "nn.Conv2d(channels, channels // reduction, 1), nn.ReLU(),\n            nn.Conv2d(channels // reduction, "
          "channels, 1), nn.Sigmoid(),",
          "nn.Conv2d(channels, channels // reduction, 1), nn.Sigmoid(),\n            nn.Conv2d(channels // reduction, "
          "channels, 1), nn.ReLU(),", "ChannelAttention"),
    Plant("CUDA sigmoid with its two branches swapped", "6", "kernels/sigmoid.cu",
          "y[i] = v >= T(0) ? r : e * r;", "y[i] = v >= T(0) ? e * r : r;", "sigmoid_forward"),
    Plant("CUDA conv2d adds the padding instead of subtracting it", "6", "kernels/conv2d.cu",
          "const int h = ho * s.sh - s.ph + i;", "const int h = ho * s.sh + s.ph + i;", "conv2d_forward_naive"),
    Plant("block_sum without the barrier between its rounds", "6", "kernels/block_reduce.cuh",
          "partial[threadIdx.x + half];\n        __syncthreads();\n", "partial[threadIdx.x + half];\n",
          "avg_pool_forward"),
    Plant("avg_pool's stride loop stops one pixel short", "6", "kernels/avg_pool.cu",
          "q < L; q += blockDim.x", "q < L - 1; q += blockDim.x", "avg_pool_forward"),
    Plant("no zero_grad: gradients pile up over steps", "7", "minircan/train.py",
          "        self.optimizer.zero_grad()\n", "", "zero_grad"),
    Plant("the learning-rate schedule never advances", "7", "minircan/train.py",
          "        if self.scheduler is not None:\n            self.scheduler.step()\n", "", "schedule"),
    Plant("the step is not counted", "7", "minircan/train.py", "        self.step += 1\n", "", "trainer.step"),
]


def planted(plant: Plant) -> str:
    """The release's text of plant.path with the plant applied to the solution: the file as a release built
    with every solution kept (--keep-solution for all tasks) would hold it, wrong in one place."""
    solution = (REPO_ROOT / plant.path).read_text()
    regions = [r for r in fences.find_regions(solution, plant.path) if r.task == plant.task]
    lines = solution.split("\n")
    hits = [r for r in regions if plant.old in "\n".join(r.body)]
    assert len(hits) == 1 and "\n".join(hits[0].body).count(plant.old) == 1, (
        f"{plant.name}: {plant.old!r} must occur once in task {plant.task}'s regions of {plant.path}")
    r = hits[0]
    body = "\n".join(r.body).replace(plant.old, plant.new).split("\n")
    patched = "\n".join(lines[:r.begin + 1] + body + lines[r.end:])
    others = [t for t in ALL_TASKS if t != plant.task]
    assert fences.strip(patched, plant.path, keep=others) == fences.strip(solution, plant.path, keep=others), (
        f"{plant.name}: the plant changes more than task {plant.task}'s code")
    return fences.strip(patched, plant.path, keep=ALL_TASKS)


@pytest.mark.parametrize("plant", PLANTS, ids=[f"task{p.task}-{p.name}" for p in PLANTS])
def test_a_planted_wrong_solution_costs_its_task_points(solved, plant):
    """Only task plant.task's code changes (checked in planted()), and every other task's tests replace it with
    stand-ins; so only that task is graded here (grade --task N), as a student's run would."""
    target = solved / plant.path
    original = target.read_text()
    assert original == fences.strip((REPO_ROOT / plant.path).read_text(), plant.path, keep=ALL_TASKS)
    target.write_text(planted(plant))
    try:
        proc = run_in(solved, "-m", "minircan.assignments", "grade", str(solved), "--task", plant.task, "--json",
                      "--timeout", str(TIMEOUT))
    finally:
        target.write_text(original)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    (task,) = json.loads(proc.stdout)["tasks"]
    assert task["id"] == plant.task and task["status"] == "failed" and task["earned"] < task["points"], task
    reasons = [t["reason"] for t in task["tests"] if t["outcome"] != "passed"]
    assert any(plant.expect in r for r in reasons), reasons


def test_the_planted_solutions_cover_every_task():
    per_task = {t: sum(p.task == t for p in PLANTS) for t in ALL_TASKS}
    assert min(per_task.values()) >= 2, per_task


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


def plugin_summary():
    sys.path.insert(0, str(REPO_ROOT / "minircan" / "assignments"))
    try:
        import grade_plugin
    finally:
        sys.path.pop(0)
    return grade_plugin.summary


def test_the_grader_line_shows_the_message_that_says_what_is_wrong():
    import numba
    import numpy as np

    summary = plugin_summary()
    try:
        np.testing.assert_allclose([10.0, 10.0], [7.0, 7.0], err_msg="fan-out: d/dx is 7")
    except AssertionError as e:
        line = summary(f"AssertionError: {e}")  # NumPy's message starts with an empty line
    assert line.startswith("fan-out: d/dx is 7; not equal to tolerance"), line

    def helper(v):
        return v

    @numba.njit
    def kernel(v):
        return helper(v)

    with pytest.raises(numba.core.errors.TypingError) as info:
        kernel(1.0)
    line = summary(f"{type(info.value).__module__}.TypingError: {info.value}")
    assert "Untyped global name 'helper'" in line and line.startswith("TypingError (Numba)"), line
    assert summary("AssertionError: conv2d weight gradient: relative error 3.1e-01\nassert False") == (
        "conv2d weight gradient: relative error 3.1e-01")
    assert summary("AssertionError: \n\n") == "failed"


def test_a_task_past_its_timeout_is_stopped_and_the_others_are_graded(release, tmp_path):
    copy = tmp_path / "student"
    shutil.copytree(release, copy)
    tests = copy / "tests" / "test_task4_activations_pooling_shuffle.py"
    tests.write_text(tests.read_text() + "\n\ndef test_endless():\n    while True:\n        pass\n")
    log = io.StringIO()
    results = {r.id: r for r in grade.grade(copy, ["1", "4", "5"], timeout=20, progress=grade.Progress(log))}
    assert results["4"].status == "timed out" and "test_endless" in results["4"].reason, results["4"]
    assert "20 s" in results["4"].reason and results["4"].earned == 0
    assert results["1"].status == results["5"].status == "failed" and results["1"].tests and results["5"].tests
    assert "grading task 1:" in log.getvalue() and "grading task 4:" in log.getvalue(), log.getvalue()


def test_a_task_that_ends_between_two_reads_of_the_events_still_gets_its_progress_line():
    # The runner reads the events every half second; task 1's tests all started and ended between two reads,
    # task 4 is running: the log names task 1 (done) once, and leaves task 4 to the running line.
    seen = grade._Outcome(collected={"a::t1": "1", "a::t2": "1", "b::t3": "4"}, started=["a::t1", "a::t2", "b::t3"])
    seen.results = {"a::t1": None, "a::t2": None}
    log = io.StringIO()
    runner = grade._Runner(None, None, None, None, progress=grade.Progress(log))
    shown: set[str] = set()
    runner._report_finished(seen, shown, "4")
    runner._report_finished(seen, shown, "4")
    assert log.getvalue() == "grading task 1: 2/2 tests done\n" and shown == {"1"}


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
