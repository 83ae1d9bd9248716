"""Speed under contention: ``python -m minircan.bench --contention``.

The tiny training step, timed while 0, 1 and 3 busy processes (plain Python loops spinning on a core,
started and killed by the bench) compete for the cores: minircan with its default threads (Numba's loops on
every core, BLAS on one thread: minircan/threads.py), with one thread (NUMBA_NUM_THREADS=1
OPENBLAS_NUM_THREADS=1, set before the worker imports anything) and with BLAS on every core too
(MINIRCAN_BLAS_THREADS, the default before this measurement); PyTorch with its default threads and with
one. Printed: seconds per step (the mean over the timed steps: a training run pays for the slow steps too),
the slowdown (time with k neighbours / time with none) and, for each, the ratio to one thread at each load.

Why it matters: a thread pool assumes it owns the cores. With a neighbour, one of its threads is
descheduled for a time slice while the others wait for it at the end of every parallel region (a barrier),
so many short regions cost a time slice each. One thread never waits for another. OpenBLAS splits each
product statically between its threads and puts them to sleep between calls; Numba's TBB layer steals
work, so a thread that is not running is not waited for unless it holds a piece of the loop.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable

from ..threads import BLAS_ENV
from .common import run_worker

SPIN = "while True: pass"
ONE_THREAD = {"NUMBA_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
VARIANTS = (  # (label, framework, threads: "default" | "one" | "blas all": BLAS on every core too)
    ("minircan, default threads", "minircan", "default"),
    ("minircan, one thread", "minircan", "one"),
    ("minircan, BLAS on every core", "minircan", "blas all"),
    ("PyTorch, default threads", "torch", "default"),
    ("PyTorch, one thread", "torch", "one"),
)


class Neighbours:
    """``with Neighbours(k):`` k busy processes spin beside the block and are killed after it (also on error)."""

    def __init__(self, k: int):
        self.k, self.procs = k, []

    def __enter__(self) -> Neighbours:
        self.procs = [subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(self.k)]
        time.sleep(0.2 if self.k else 0)  # let them start spinning
        return self

    def __exit__(self, *exc) -> bool:
        for p in self.procs:
            p.kill()
        for p in self.procs:
            p.wait()
        self.procs = []
        return False


def measure(framework: str, mode: str, config: str, threads: int, batch: int, patch: int, scale: int,
            steps: int, conv_algorithm: str = "auto") -> dict:
    """One training-step measurement in a fresh process (see ``train_step.train_step_worker``); ``mode``:
    "default" threads, "one" thread, or "blas all": Numba's threads as by default and BLAS on as many."""
    env = {"default": None, "one": dict(os.environ, **ONE_THREAD),
           "blas all": dict({k: v for k, v in os.environ.items() if k not in BLAS_ENV},
                            MINIRCAN_BLAS_THREADS=str(threads))}[mode]
    one_thread = mode == "one"
    return run_worker(["--worker", framework, config, "--threads", str(1 if one_thread else threads), "--batch",
                       str(batch), "--size", str(patch), "--scale", str(scale), "--steps", str(steps),
                       "--conv-algorithms", conv_algorithm], env=env)


def run_contention(loads: tuple[int, ...], threads: int, batch: int, patch: int, scale: int, steps: int,
                   config: str = "tiny", with_torch: bool = True, conv_algorithm: str = "auto",
                   progress: Callable[[str], object] | None = None) -> list[dict]:
    """One row per (variant, load): {variant, load, step_s (mean), median_s, threads (Numba's), blas_threads}
    (the last two None for PyTorch)."""
    variants = [v for v in VARIANTS if with_torch or v[1] != "torch"]
    rows = []
    for k in loads:
        with Neighbours(k):
            for label, framework, mode in variants:
                r = measure(framework, mode, config, threads, batch, patch, scale, steps, conv_algorithm)
                rows.append(dict(variant=label, load=k, step_s=r["mean_s"], median_s=r["step_s"],
                                 threads=r.get("threads"), blas_threads=r.get("blas_threads")))
                if progress is not None:
                    progress(f"{k} busy, {label}: {r['mean_s']:.3f} s/step")
    return rows


def format_contention(rows: list[dict], loads: tuple[int, ...]) -> str:
    t = {(r["variant"], r["load"]): r["step_s"] for r in rows}
    variants = list(dict.fromkeys(r["variant"] for r in rows))
    head = ["variant", *[f"{k} busy: s/step" for k in loads], *[f"slowdown {k}/0" for k in loads if k]]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for v in variants:
        cells = [f"{t[(v, k)]:.3f}" for k in loads]
        cells += [f"{t[(v, k)] / t[(v, loads[0])]:.2f}x" for k in loads if k]
        lines.append(f"| {v} | " + " | ".join(cells) + " |")
    lines += ["", "| default threads / one thread | " + " | ".join(f"{k} busy" for k in loads) + " |",
              "|---|" + "---:|" * len(loads)]
    for fw, d in (("minircan", "minircan, default threads"), ("minircan, BLAS on every core", None),
                  ("PyTorch", "PyTorch, default threads")):
        d, o = d or fw, f"{fw.split(',')[0]}, one thread"
        if (d, loads[0]) in t and (o, loads[0]) in t:
            lines.append(f"| {fw} | " + " | ".join(f"{t[(d, k)] / t[(o, k)]:.2f}x" for k in loads) + " |")
    return "\n".join(lines)
