"""minircan/threads.py: BLAS runs on one thread after ``import minircan`` (whatever was imported first),
MINIRCAN_BLAS_THREADS and the user's own OPENBLAS_NUM_THREADS are obeyed, and a bad value is a clear error."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from minircan import threads

ROOT = Path(__file__).resolve().parents[1]
REPORT = "import numpy, minircan; print(minircan.threads.blas_threads())"  # NumPy first, as in most programs


def blas_threads_after_import(**env) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in (*threads.BLAS_ENV, threads.ENV)}
    clean["PYTHONPATH"] = os.pathsep.join([str(ROOT), clean.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-c", REPORT], capture_output=True, text=True, timeout=300,
                          env=dict(clean, **env), cwd=ROOT)


@pytest.mark.parametrize("env, expected", [({}, "1"), ({"MINIRCAN_BLAS_THREADS": "2"}, "2"),
                                           ({"OPENBLAS_NUM_THREADS": "2"}, "2")])
def test_blas_threads_after_import(env, expected):
    proc = blas_threads_after_import(**env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [expected], (env, proc.stdout)


def test_a_bad_thread_count_is_a_clear_error():
    proc = blas_threads_after_import(MINIRCAN_BLAS_THREADS="many")
    assert proc.returncode != 0 and "MINIRCAN_BLAS_THREADS='many': set it to a whole number" in proc.stderr


def test_set_blas_threads_and_back():
    before = threads.blas_threads()
    try:
        threads.set_blas_threads(2)
        assert threads.blas_threads() == 2
        threads.set_blas_threads(1)
        assert threads.blas_threads() == 1
        with pytest.raises(ValueError, match="whole number of threads"):
            threads.set_blas_threads(0)
    finally:
        threads.set_blas_threads(before)
