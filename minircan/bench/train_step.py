"""The training-step benchmark: forward + L1 loss + backward + Adam of RCAN (tiny, small or paper), minircan
against PyTorch, each in a fresh process so that the peak memory is that run's alone."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from .. import backends
from .. import threads as threads_module
from .common import device_sync, median_time, peak_rss_mb, run_worker, torch_gpu_reference

TRAIN_STEPS = {"tiny": 20, "small": 10, "paper": 2}  # timed steps per configuration (after one warm-up)


def timed_steps(config: str, device: str) -> int:
    """How many training steps to time: a GPU step is short, so it gets five times as many."""
    return TRAIN_STEPS[config] * (5 if device == "cuda" else 1)


def make_step(framework: str, config: str, batch: int, patch: int, scale: int, device: str = "cpu",
              conv_algorithm: str = "auto") -> Callable[[], object]:
    """A function running one training step (zero_grad, forward, L1 loss, backward, Adam) of RCAN(config) on
    a fixed random batch of ``batch`` patch x patch LR images, in minircan or PyTorch ("torch")."""
    from ..models.rcan import CONFIGS

    rng = np.random.default_rng(0)
    lr_batch = (rng.random((batch, 3, patch, patch)) * 255).astype(np.float32)
    hr_batch = (rng.random((batch, 3, patch * scale, patch * scale)) * 255).astype(np.float32)
    if framework == "torch":
        import torch

        from ..torch_reference import TorchRCAN

        torch.manual_seed(0)
        if device == "cuda":
            torch_gpu_reference()
        model = TorchRCAN(scale=scale, **CONFIGS[config]).to(device)
        opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-4)
        x, y = torch.from_numpy(lr_batch).to(device), torch.from_numpy(hr_batch).to(device)

        def step():
            opt.zero_grad()
            torch.nn.functional.l1_loss(model(x), y).backward()
            opt.step()
    else:
        from .. import functional as F
        from .. import manual_seed
        from ..models.rcan import RCAN
        from ..optim import Adam
        from ..tensor import Tensor

        manual_seed(0)
        backends.conv_algorithm = conv_algorithm
        model = RCAN(scale=scale, **CONFIGS[config]).to(device)
        opt = Adam([p for p in model.parameters() if p.requires_grad], lr=1e-4)
        x, y = Tensor(lr_batch, device=device), Tensor(hr_batch, device=device)

        def step():
            opt.zero_grad()
            F.l1_loss(model(x), y).backward()
            opt.step()

    step.model = model  # for the profile and the tests
    return step


def train_step_worker(framework: str, config: str, batch: int, patch: int, scale: int, steps: int,
                      device: str = "cpu", conv_algorithm: str = "auto") -> dict:
    """Time forward + L1 loss + backward + Adam step of RCAN(config) on one batch (the median and the mean
    step); report the peak memory.

    Runs in a fresh process per (framework, configuration), so that the peak memory is that run's alone:
    resident memory on the CPU; on a GPU, PyTorch's peak allocation and the size of CuPy's memory pool
    (which keeps every block it ever allocated, so its size is minircan's peak).
    """
    step = make_step(framework, config, batch, patch, scale, device, conv_algorithm)
    step()  # warm-up: JIT and NVRTC compilation, first-touch allocations, cuDNN's algorithm search
    t0 = time.perf_counter()
    median = median_time(step, steps, warmup=0, sync=device_sync(device))
    result = dict(step_s=median, mean_s=(time.perf_counter() - t0) / steps, peak_rss_mb=peak_rss_mb())
    if framework != "torch":
        import numba

        result["threads"] = numba.config.NUMBA_NUM_THREADS  # the pool's size, fixed when Numba loaded
        result["blas_threads"] = threads_module.blas_threads()
    if device == "cuda":
        if framework == "torch":
            import torch

            result["gpu_mb"] = torch.cuda.max_memory_allocated() / 2**20
        else:
            import cupy

            result["gpu_mb"] = cupy.get_default_memory_pool().total_bytes() / 2**20
    return result


def run_train_steps(configs: list[str], threads: int, batch: int, patch: int, scale: int,
                    with_torch: bool = True, device: str = "cpu", algorithms: tuple = ("auto",),
                    steps: int | None = None) -> list[dict]:
    """One row per (configuration, conv algorithm); PyTorch runs once per configuration and is shared.
    ``steps``: timed steps per measurement (None: ``timed_steps``)."""

    def worker(framework: str, config: str, algorithm: str) -> dict:
        return run_worker(["--worker", framework, config, "--threads", str(threads), "--batch", str(batch),
                           "--size", str(patch), "--scale", str(scale), "--device", device,
                           "--conv-algorithms", algorithm, *(["--steps", str(steps)] if steps else [])])

    rows = []
    for config in configs:
        ours = {a: worker("minircan", config, a) for a in algorithms}
        ref = worker("torch", config, "auto") if with_torch else None
        rows += [{"config": f"{config} ({a})", "minircan": ours[a], "torch": ref} for a in algorithms]
    return rows


def format_train_table(rows: list[dict], batch: int, patch: int, scale: int) -> str:
    memory = "gpu_mb" if rows and "gpu_mb" in rows[0]["minircan"] else "peak_rss_mb"
    where = "GPU" if memory == "gpu_mb" else "peak"
    lines = [f"| RCAN training step (batch {batch}, {patch}x{patch} LR, x{scale}, Adam) | minircan s/step | "
             f"PyTorch s/step | time ratio | minircan {where} MB | PyTorch {where} MB |",
             "|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        ours, ref = r["minircan"], r.get("torch")
        ref_t = "-" if ref is None else f"{ref['step_s']:.4f}"
        ratio = "-" if ref is None else f"{ours['step_s'] / ref['step_s']:.2f}x"
        ref_m = "-" if ref is None else f"{ref[memory]:.0f}"
        lines.append(f"| {r['config']} | {ours['step_s']:.4f} | {ref_t} | {ratio} | {ours[memory]:.0f} | "
                     f"{ref_m} |")
    return "\n".join(lines)


