"""What every benchmark shares: the timing loop, the device wait, peak memory, the environment line, worker
processes, and the restart that drops OpenBLAS overrides."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import numba
import numpy as np

from .. import backends
from ..device import device as get_device
from ..threads import blas_threads


def median_time(fn: Callable[[], object], repeats: int, warmup: int = 2, sync: Callable[[], object] | None = None,
                inner: int = 1) -> float:
    """Median wall time of fn() over ``repeats`` runs, after ``warmup`` runs (JIT compile, caches).

    On a GPU, calls return before the work is done: ``sync`` waits for the device, and each timed run is
    ``inner`` back-to-back calls then one wait, divided by ``inner`` (the throughput a training loop sees,
    launch overhead included).
    """
    sync = sync or (lambda: None)
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        sync()
        times.append((time.perf_counter() - t0) / inner)
    return statistics.median(times)


def device_sync(device: str) -> Callable[[], object] | None:
    """A function that waits until the device has finished its queued work (None on the CPU)."""
    if device != "cuda":
        return None
    import cupy

    return cupy.cuda.Device().synchronize  # cudaDeviceSynchronize: waits for PyTorch's streams too


def torch_gpu_reference() -> None:
    """PyTorch on the GPU as the issue compares with: float32 without TF32, cuDNN picking its fastest algorithm."""
    import torch

    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.benchmark = True


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM), in MB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_worker(args: list[str], env: dict[str, str] | None = None) -> dict:
    """Run ``python -m minircan.bench ARGS`` in a fresh process and return the JSON object on its last line.

    Each measurement gets its own process: its peak memory is its own, its thread pools start cold and
    nothing another framework left spinning runs beside it.
    """
    cmd = [sys.executable, "-m", "minircan.bench", *args, "--keep-blas-env"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark worker {' '.join(args)} failed (exit {proc.returncode}):\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def environment(threads: int) -> str:
    """One line: threads, conv algorithm, library versions, Numba's threading layer, BLAS settings."""
    blas = {k: os.environ[k] for k in BLAS_OVERRIDES if k in os.environ}
    get_device("cpu").kernels.relu_forward(np.zeros(1, np.float32))  # a parallel loop picks the threading layer
    parts = [f"threads={threads}", f"conv auto: winograd F({backends.winograd_tile}x{backends.winograd_tile}) for "
             f"3x3 stride 1 with >= {backends.WINOGRAD_MIN_CHANNELS} input channels and >= "
             f"{backends.WINOGRAD_MIN_PIXELS} input pixels (N H W), else im2col",
             f"numpy {np.__version__}", f"numba {numba.__version__} ({numba.threading_layer()} layer)",
             f"BLAS threads {blas_threads()}",
             f"OPENBLAS_THREAD_TIMEOUT={os.environ.get('OPENBLAS_THREAD_TIMEOUT', 'unset')}"]
    try:
        import torch

        parts.append(f"torch {torch.__version__}")
    except ImportError:
        parts.append("torch not installed")
    if blas:
        parts.append("env " + " ".join(f"{k}={v}" for k, v in blas.items()))
    if os.environ.get("MINIRCAN_BENCH_DROPPED"):
        parts.append(f"restarted without {os.environ['MINIRCAN_BENCH_DROPPED']} (--keep-blas-env keeps them)")
    return ", ".join(parts)


def gpu_environment() -> str:
    import cupy

    props = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
    runtime = cupy.cuda.runtime.runtimeGetVersion()
    parts = [props["name"].decode(), f"CuPy {cupy.__version__}", f"CUDA runtime {runtime}"]
    try:
        import torch

        parts.append(f"torch {torch.__version__} (cuDNN {torch.backends.cudnn.version()}, TF32 off, "
                     "cudnn.benchmark on)")
    except ImportError:
        parts.append("torch not installed")
    return ", ".join(parts)


BLAS_OVERRIDES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def reexec_without_blas_overrides(argv: list[str]) -> None:
    """Restart this command without the OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE overrides.

    Some machines set them to force old OpenBLAS builds onto a safe code path; they also make a current
    NumPy's OpenBLAS use older, slower matrix kernels (here: Haswell's AVX2 instead of the CPU's AVX-512).
    OpenBLAS reads them once when NumPy loads, so the only way to drop them is a fresh process.
    """
    env = {k: v for k, v in os.environ.items() if k not in BLAS_OVERRIDES}
    env["MINIRCAN_BENCH_DROPPED"] = ",".join(f"{k}={os.environ[k]}" for k in BLAS_OVERRIDES if k in os.environ)
    os.execve(sys.executable, [sys.executable, "-m", "minircan.bench", *argv], env)
