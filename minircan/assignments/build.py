"""``build``: write the student release of the course from the solution repository.

The release is a folder the instructor hands out (or pushes to a fresh git repository):

    README.md            the students' guide: the tasks, their points, how to run the tests
    assignment.json      what was built: minircan's version, the tasks and their points (the grader's marker)
    pyproject.toml       as in the solution, so that 'pip install -e .' works
    minircan/, kernels/  the package, every fenced solution region replaced by a stub (see fences.py)
    tests/               the task tests, their helpers and references/task<N>.npz, the solution's outputs
    notebooks/assignments/   one notebook per task, solution cells replaced by TODO cells
    notebooks/*.ipynb    the step-through notebooks, student edition: every cell whose code or output shows a
                         solution is cut (teaching.py), the others keep their outputs

Left out on purpose: the project's own tests and the README (they show the solution), the PyTorch reference
model ``minircan/torch_reference.py`` (it spells out channel attention and the RCAB), and every compiled or
cached file. The build then checks its own output: no fence line is left, no statement of a solution region
that is not handed out appears in any file (the notebooks' sources and outputs included), every Python file
compiles, and ``import minircan`` works in the release.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import minircan

from . import fences, notebooks, references, teaching
from .tasks import TASKS

MANIFEST = "assignment.json"
MANIFEST_FORMAT = "minircan-assignment-release"
SOURCE_FOLDERS = ("minircan", "kernels")
COPIED_SUFFIXES = (".py", ".cu", ".cuh", ".h", ".png", ".md")
EXCLUDED = ("minircan/torch_reference.py", "minircan/assignments/tests")  # relative paths (and all below)
TESTS_SOURCE = "minircan/assignments/tests"
NOTEBOOKS_SOURCE = "notebooks/assignments"
TEACHING_NOTEBOOKS = "notebooks"  # the step-through notebooks: notebooks/*.ipynb
LEAK_CHECKED = (".py", ".cu", ".cuh", ".h", ".md", ".ipynb", ".json", ".toml", ".txt")


class BuildError(RuntimeError):
    """The release cannot be built (not a solution checkout, an output folder in the way, a bad fence)."""


def solution_root() -> Path:
    """The repository that holds the running minircan; a BuildError unless it is the solution checkout."""
    root = Path(minircan.__file__).resolve().parent.parent
    needed = ["kernels/__init__.py", TESTS_SOURCE, NOTEBOOKS_SOURCE, "pyproject.toml"]
    missing = [p for p in needed if not (root / p).exists()]
    if missing:
        raise BuildError(f"minircan was imported from {root}, which is not the solution repository (missing: "
                         f"{', '.join(missing)}); run the build from a checkout: cd <repository> && "
                         "python -m minircan.assignments build OUT")
    if not any(find_regions_in(root)):
        raise BuildError(f"{root} has no solution fences: it is a student release, not the solution; build from "
                         "the solution repository")
    return root


def source_files(root: Path) -> list[Path]:
    """The package files that go into the release, relative to root, sorted."""
    files = []
    for folder in SOURCE_FOLDERS:
        for path in sorted((root / folder).rglob("*")):
            rel = path.relative_to(root)
            if (path.is_file() and path.suffix in COPIED_SUFFIXES and "__pycache__" not in rel.parts
                    and not any(rel.as_posix() == e or rel.as_posix().startswith(e + "/") for e in EXCLUDED)):
                files.append(rel)
    return files


def find_regions_in(root: Path):
    """Every fenced region of the solution's package files (a generator of fences.Region)."""
    for rel in source_files(root):
        if rel.suffix in fences.CODE_SUFFIXES:
            yield from fences.find_regions((root / rel).read_text(), rel.as_posix())


def solution_statements(root: Path) -> dict[str, set[str]]:
    """The statements (stripped code lines) that show a solution: statement -> the tasks whose regions hold it.

    Only the distinctive ones: a line that also occurs outside every region of the package (such as
    'return y', or a stub) shows nothing."""
    outside: set[str] = set()
    found: dict[str, set[str]] = {}
    for rel in source_files(root):
        if rel.suffix not in fences.CODE_SUFFIXES:
            continue
        text = (root / rel).read_text()
        outside.update(line.strip() for line in fences.strip(text, rel.as_posix()).split("\n"))
        for region in fences.find_regions(text, rel.as_posix()):
            for statement in region.statements:
                found.setdefault(statement, set()).add(region.task)
    return {k: v for k, v in found.items() if k not in outside}


def leaks_in(out: Path, statements: dict[str, set[str]], keep: tuple[str, ...] = ()) -> list[str]:
    """'file: statement (task N)' for every solution statement of a task not in keep found in the release,
    in its code, text files and notebooks (their sources and outputs)."""
    keep_set = {str(k) for k in keep}
    found = []
    for path in sorted(out.rglob("*")):
        if not path.is_file() or path.suffix not in LEAK_CHECKED:
            continue
        text = path.read_text(errors="replace")
        lines = {line.strip() for line in text.split("\n")}
        if path.suffix == ".ipynb":
            try:
                cells = json.loads(text).get("cells", [])
            except json.JSONDecodeError:
                cells = []
            for cell in cells:
                lines |= teaching.cell_lines(cell)
        rel = path.relative_to(out).as_posix()
        for line in sorted(lines):
            tasks = statements.get(line)
            if tasks and not tasks & keep_set:
                found.append(f"{rel}: {line} (task {', '.join(sorted(tasks))})")
    return found


def _prepare_output(out: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise BuildError(f"{out} exists and is not a folder; choose another output folder")
    if out.is_dir() and any(out.iterdir()):
        if not force:
            raise BuildError(f"{out} is not empty; choose a new folder, or pass --force to replace a release "
                             "built there before")
        if not (out / MANIFEST).is_file():
            raise BuildError(f"{out} is not empty and holds no {MANIFEST}, so it is not a release built before; "
                             "--force only replaces a previous release (nothing was deleted)")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)


def build(out: str | Path, force: bool = False, keep: tuple[str, ...] = (), check_import: bool = True) -> dict:
    """Write the student release to ``out``; returns its manifest.

    keep: tasks whose solutions stay in the release (e.g. to hand out task 2's solution after its deadline).
    """
    root = solution_root()
    out = Path(out).resolve()
    if out == root or any(out.is_relative_to(root / d) for d in (*SOURCE_FOLDERS, "notebooks", "tests")):
        raise BuildError(f"{out} is the solution repository or inside its sources; write the release elsewhere")
    _prepare_output(out, force)
    regions = 0
    for rel in source_files(root):
        dest = out / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        if rel.suffix in fences.CODE_SUFFIXES:
            text = (root / rel).read_text()
            regions += len(fences.find_regions(text, rel.as_posix()))
            dest.write_text(fences.strip(text, rel.as_posix(), keep))
        else:
            shutil.copyfile(root / rel, dest)
    shutil.copyfile(root / "pyproject.toml", out / "pyproject.toml")

    tests = out / "tests"
    tests.mkdir()
    for path in sorted((root / TESTS_SOURCE).glob("*.py")):
        shutil.copyfile(path, tests / path.name)
    written = references.write_all(tests / "references")

    nb_out = out / NOTEBOOKS_SOURCE
    nb_out.mkdir(parents=True)
    for path in sorted((root / NOTEBOOKS_SOURCE).glob("*.ipynb")):
        notebooks.write_student_version(path, nb_out / path.name, keep)
    statements = solution_statements(root)
    cut = {path.name: teaching.write_student_edition(path, out / TEACHING_NOTEBOOKS / path.name, statements, keep)
           for path in sorted((root / TEACHING_NOTEBOOKS).glob("*.ipynb"))}

    manifest = {
        "format": MANIFEST_FORMAT, "minircan": minircan.__version__, "solutions_kept": sorted(keep),
        "tasks": [{"id": t.id, "title": t.title, "points": t.points, "files": list(t.files),
                   "notebook": f"{NOTEBOOKS_SOURCE}/{t.notebook}"} for t in TASKS],
        "references": sorted(p.name for p in written), "regions": regions,
        "teaching_notebooks": {name: {"cells_cut": n} for name, n in cut.items()},
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    (out / "README.md").write_text(student_readme())
    (out / ".gitignore").write_text("__pycache__/\n*.py[cod]\n*.nbi\n*.nbc\n.pytest_cache/\n.ipynb_checkpoints/\n"
                                    "*.egg-info/\nruns/\n")
    verify(out, check_import, statements, keep)
    return manifest


def verify(out: Path, check_import: bool = True, statements: dict[str, set[str]] | None = None,
           keep: tuple[str, ...] = ()) -> None:
    """The release has no fence left, no solution statement of a task not in keep (statements: from
    solution_statements), every Python file compiles, and (check_import) ``import minircan`` works."""
    if statements is not None:
        leaks = leaks_in(out, statements, keep)
        if leaks:
            raise BuildError(f"{len(leaks)} solution statement(s) in the release (the build must not hand them out):\n"
                             + "\n".join(leaks[:20]))
    for path in sorted(out.rglob("*")):
        if path.suffix not in fences.CODE_SUFFIXES or not path.is_file():
            continue
        text = path.read_text()
        rel = path.relative_to(out).as_posix()
        if fences.find_regions(text, rel):
            raise BuildError(f"{rel}: a solution fence is left in the release")
        if path.suffix == ".py":
            try:
                compile(text, str(path), "exec")
            except SyntaxError as e:
                raise BuildError(f"{rel}:{e.lineno}: the stubbed file does not compile ({e.msg}); check the "
                                 "indentation of its fences") from None
    if check_import:
        env = dict(os.environ, PYTHONPATH=str(out))
        code = ("import minircan, minircan.kernels.cuda, minircan.kernels.emulator, minircan.train; "
                "print(minircan.__file__)")
        proc = subprocess.run([sys.executable, "-c", code], cwd=out, env=env, capture_output=True, text=True,
                              timeout=300)
        if proc.returncode != 0 or not Path(proc.stdout.strip()).resolve().is_relative_to(out):
            raise BuildError(f"the release does not import from {out}:\n{proc.stderr.strip() or proc.stdout}")


def student_readme() -> str:
    """The release's README.md: what to do, where, and how to check it."""
    rows = "\n".join(f"| {t.id} | {t.title} | {t.points} | {', '.join(f'`{f}`' for f in t.files)} | "
                     f"`{NOTEBOOKS_SOURCE}/{t.notebook}` |" for t in TASKS)
    total = sum(t.points for t in TASKS)
    return f"""# minircan: course assignments

You build RCAN super-resolution from scratch: the autograd engine, the convolution, the activations, the
model's blocks, a CUDA kernel, and the training loop. Everything else (tensors, ops, modules, optimisers,
data, metrics, a CUDA emulator) is given. Each place where you write code raises
`NotImplementedError("task N: ...")` until you do; `grep -rn "TODO (task" minircan kernels` lists them all.

| task | what | points | where you write code | notebook |
|---|---|---:|---|---|
{rows}
| | total | {total} | | |

Each task is graded on its own: the tests of a task replace the other tasks' code with stand-ins
(`tests/oracles.py`), so you can do the tasks in any order, and a mistake in one task costs only its points.
Still, the order above is the order in which they build on each other; the notebooks of later tasks use
your earlier code for their pictures. The step-through notebooks in `notebooks/` walk through the whole
library; the cells that would show a task's solution are cut, and come back after its deadline.

## Set-up

```bash
pip install -e .          # or use the folder as is: run everything from this folder
pip install jupyter       # for the notebooks
```

## Checking your work

```bash
python -m minircan.assignments grade .              # every task: a table of points, exit code 0 at full marks
python -m minircan.assignments grade . --task 2     # one task
python -m pytest tests --task 2 -x                  # the same tests with pytest's full report
```

A failed test says what is wrong and where, e.g.
`conv2d weight gradient: relative error 3.1e-01 at [2, 0, 1, 1] (yours ..., expected ...)`.
The expected values in `tests/references/` were computed by the solution on fixed inputs; tolerances are a
relative error below 1e-10 in float64 and 1e-5 in float32. Task 6 runs your CUDA code on a CPU emulator
(`kernels/emulator.py`, needs a C++ compiler such as g++) when there is no GPU. Task 7 trains the tiny RCAN
for a few hundred steps (about half a minute) and needs a clear PSNR gain over bicubic (its test says how much).

Change only the code at the TODO markers (and the notebooks). `grade .` runs the tests in `./tests`, so
editing them changes only what you see: your instructor grades your code with a pristine copy of the tests
(`grade YOUR_FOLDER --tests RELEASE`).
"""


def reveal_tasks(release: str | Path, tasks: list[str]) -> list[tuple[str, int]]:
    """Put the solution of ``tasks`` back into a release's code (and notebooks): [(file, regions revealed)].

    Every file is checked before any is written, so a stub the student already replaced stops the whole
    reveal with nothing changed.
    """
    from .tasks import get_task

    root = solution_root()
    out = Path(release).resolve()
    if not (out / MANIFEST).is_file():
        raise BuildError(f"{out} is not a release built by 'python -m minircan.assignments build' (no {MANIFEST})")
    tasks = [get_task(t).id for t in tasks]
    changes: list[tuple[Path, str, int]] = []
    for rel in source_files(root):
        if rel.suffix not in fences.CODE_SUFFIXES:
            continue
        solution = (root / rel).read_text()
        if not any(r.task in tasks for r in fences.find_regions(solution, rel.as_posix())):
            continue
        target = out / rel
        if not target.is_file():
            raise BuildError(f"{target} is missing from the release; nothing was changed")
        text, count = fences.reveal(target.read_text(), solution, rel.as_posix(), tasks)
        changes.append((target, text, count))
    for path, text, _ in changes:
        path.write_text(text)
    for path in sorted((root / NOTEBOOKS_SOURCE).glob("*.ipynb")):
        nb = json.loads(path.read_text())
        if notebooks.notebook_task(nb, path) in tasks:
            notebooks.write_student_version(path, out / NOTEBOOKS_SOURCE / path.name, keep=tasks)
    # The step-through notebooks: the cells cut for these tasks come back (a cell that also shows a task still
    # not revealed stays cut). The manifest remembers what is revealed.
    manifest = json.loads((out / MANIFEST).read_text())
    kept = sorted(set(manifest.get("solutions_kept", [])) | set(tasks), key=lambda t: (len(t), t))
    statements = solution_statements(root)
    for path in sorted((root / TEACHING_NOTEBOOKS).glob("*.ipynb")):
        target = out / TEACHING_NOTEBOOKS / path.name
        before = target.read_text() if target.is_file() else None
        edition, _ = teaching.student_edition(json.loads(path.read_text()), statements, kept)
        text = json.dumps(edition, indent=1, ensure_ascii=False) + "\n"
        if text != before:
            target.write_text(text)
    manifest["solutions_kept"] = kept
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return [(p.relative_to(out).as_posix(), n) for p, _, n in changes]
