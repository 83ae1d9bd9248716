"""The teaching notebooks: each is re-executed top to bottom and must print what it has stored.

Every notebooks/*.ipynb (not notebooks/assignments/) is committed with its outputs; this test executes it in
a fresh python3 kernel and compares every code cell's printed text with the stored text (tests/
notebook_compare.py says what is sanitised first and how numbers are compared). A notebook with no stored
outputs at all is skipped, with the command that stores them. Slow (a Jupyter kernel per notebook):
marked ``notebook``, deselect with ``-m "not notebook"``.

Store outputs after editing a notebook:  python tests/test_notebooks.py --update notebooks/01_autograd.ipynb
"""

import copy
import re
import sys

import pytest

nbformat = pytest.importorskip("nbformat")
pytest.importorskip("nbclient")

from notebook_compare import (  # noqa: E402
    NOTEBOOK_DIR,
    REPO_ROOT,
    check_notebook,
    compare,
    has_outputs,
    main,
    sanitise,
    texts_match,
)

NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
_ANSI = re.compile(r"\x1b\[[0-9;]*m")  # colour codes in the kernel's tracebacks


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_reproduces_its_outputs(path):
    if not has_outputs(nbformat.read(path, as_version=4)):
        pytest.skip(f"{path.name} has no stored outputs; store them with "
                    f"`python tests/test_notebooks.py --update {path.relative_to(REPO_ROOT)}`")
    import nbclient

    error = None
    try:
        problems, seconds = check_notebook(path)
    except nbclient.exceptions.CellExecutionError as err:  # its text: the failing cell and its traceback
        error = _ANSI.sub("", str(err))
    if error is not None:  # outside the except block, so the report is not chained to the kernel's exception
        pytest.fail(f"{path.name}: a cell raised an error\n{error}", pytrace=False)
    if problems:
        pytest.fail(f"{path.name} no longer prints what it has stored ({len(problems)} cell(s)); if the change "
                    f"is intended, run `python tests/test_notebooks.py --update {path.relative_to(REPO_ROOT)}`\n\n"
                    + "\n\n".join(problems), pytrace=False)


# ---- the comparer itself (fast: no kernel) ----

def _notebook(*outputs_per_cell):
    nb = nbformat.v4.new_notebook()
    for outputs in outputs_per_cell:
        cell = nbformat.v4.new_code_cell("print(...)")
        cell.outputs = [nbformat.from_dict(o) for o in outputs]
        nb.cells.append(cell)
    return nb


def _stdout(text):
    return {"output_type": "stream", "name": "stdout", "text": text}


def _with_text(text, png=False):
    data = {"text/plain": text}
    if png:
        data["image/png"] = "iVBORw0KGgo="
    return {"output_type": "display_data", "data": data, "metadata": {}}


STORED = _notebook(
    [_stdout("max rel err 1.2e-16  gradcheck passed: 60 elements\n"),
     _stdout("naive 12.3 ms, fast 1.1 ms: 11.2x faster, 14.2 GFLOP/s\n")],
    [_stdout("loss 0.31415\n"), _with_text("<Figure size 640x480 with 1 Axes>", png=True)],
    [_stdout("parameters: 74,436\nobject at 0x7f3a2b1c9d80\n")],
    [_stdout("fast 1.10 ms  pytorch 0.20 ms  [varies]\n"), _stdout("steps: 2000\n")],
)


def _changed(cell, output, text=None, png=None):
    nb = copy.deepcopy(STORED)
    out = nb.cells[cell].outputs[output]
    if text is not None:
        if out.output_type == "stream":
            out.text = text
        else:
            out.data["text/plain"] = text
    if png is False:
        del out.data["image/png"]
    return nb


@pytest.mark.parametrize("change", [
    (0, 0, "max rel err 1.3e-16  gradcheck passed: 60 elements\n"),     # one unit in the last digit
    (0, 1, "naive 48.0 ms, fast 0.7 ms: 68.6x faster, 3.1 GFLOP/s\n"),  # another machine's timings
    (1, 0, "loss 0.31416\n"),
    (2, 0, "parameters: 74,436\nobject at 0x55d0aa01b2c0\n"),            # another address
    (3, 0, "fast 9.99 ms  pytorch 0.10 ms  [varies]\n"),                # a line marked [varies]
])
def test_comparer_accepts_machine_noise(change):
    assert compare(STORED, _changed(*change), "nb.ipynb") == []


@pytest.mark.parametrize("change, where", [
    ((0, 0, "max rel err 1.4e-16  gradcheck passed: 60 elements\n"), "cell 0"),   # two units
    ((0, 0, "max rel err 1.2e-16  gradcheck FAILED: 60 elements\n"), "cell 0"),   # a word
    ((1, 0, "loss 0.31418\n"), "cell 1"),
    ((2, 0, "parameters: 75,436\nobject at 0x7f3a2b1c9d80\n"), "cell 2"),         # 75,436 is one number
    ((3, 1, "steps: 300\n"), "cell 3"),
    ((3, 1, "steps: 2001\n"), "cell 3"),                                      # an integer must be equal
    ((1, 1, "<Figure size 640x480 with 3 Axes>"), "cell 1"),
])
def test_comparer_catches_a_changed_value(change, where):
    problems = compare(STORED, _changed(*change), "nb.ipynb")
    assert len(problems) == 1 and f"nb.ipynb, {where} " in problems[0], problems
    assert "-" in problems[0] and "+" in problems[0]   # a diff of the stored and the new line


def test_comparer_catches_a_missing_image():
    problems = compare(STORED, _changed(1, 1, png=False), "nb.ipynb")
    assert len(problems) == 1 and "stored 1 image(s), produced 0" in problems[0]


def test_comparer_catches_a_missing_line_and_a_missing_cell():
    assert compare(STORED, _changed(2, 0, "parameters: 74,436\n"), "nb.ipynb")
    shorter = copy.deepcopy(STORED)
    shorter.cells.pop()
    assert "4 code cells stored, 3 executed" in compare(STORED, shorter, "nb.ipynb")[0]


def test_sanitise():
    assert sanitise("t = 12.5 ms, 3 us, 1.5 s, 2.0x, 9 GFLOP/s, 4 GB/s, 7 MB/s, 30 it/s") == \
        "t = <timing>, <timing>, <timing>, <timing>, <timing>, <timing>, <timing>, <timing>"
    # shapes, kernel sizes and words are kept: only a number *followed by* a unit is a timing
    assert sanitise("3x3 conv on (1, 3, 48, 48), x2, 5 samples, 2 steps") == \
        "3x3 conv on (1, 3, 48, 48), x2, 5 samples, 2 steps"
    assert sanitise(" 40%|████      | 4/10 [00:01<00:02, 3.1it/s]\nend") == "end"
    assert texts_match("1.25", "1.26") and not texts_match("1.25", "1.27") and texts_match("3e-05", "4e-05")


@pytest.mark.notebook
def test_update_writes_outputs_that_then_compare_equal(tmp_path):
    # The writer and the checker are the same code: a notebook stored by --update passes the check.
    pytest.importorskip("ipykernel")
    path = tmp_path / "tiny.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import time, minircan\nt = time.perf_counter()\n"
                                          "print('sum', sum(range(10)), f'{time.perf_counter() - t:.6f} s')")]
    nbformat.write(nb, path)
    assert main(["--update", str(path)]) == 0
    stored = nbformat.read(path, as_version=4)
    assert stored.cells[0].outputs[0].text.startswith("sum 45 ")
    assert stored.metadata.kernelspec.name == "python3" and "execution" not in stored.cells[0].metadata
    assert main([str(path)]) == 0                      # re-executed: only the timing differs, and it is sanitised
    changed = copy.deepcopy(stored)
    changed.cells[0].outputs[0].text = "sum 47 0.000001 s\n"
    assert compare(changed, stored, "tiny.ipynb")


if __name__ == "__main__":
    sys.exit(main())
