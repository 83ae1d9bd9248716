"""The per-op profile of a training step: ``python -m minircan.bench --profile [CONFIG ...]``.

For each configuration, in fresh processes: minircan's step under ``minircan.profiler.profile()`` (time per
op, forward and backward separately, per kernel, and the engine's own overhead), then PyTorch's step under
``torch.profiler`` (its ``key_averages()`` table, top rows), both after one warm-up step, and the plain step
times of both (no profiler) measured in the same processes, so that the profiler's own cost shows.
"""

from __future__ import annotations

import time

from .common import run_worker
from .train_step import make_step


def profile_worker(framework: str, config: str, batch: int, patch: int, scale: int, steps: int,
                   conv_algorithm: str = "auto", row_limit: int = 20) -> dict:
    """One warm-up step, ``steps`` plain steps (timed), then ``steps`` steps under the framework's profiler.

    Returns the plain and the profiled wall time per step, the profile's table (text) and, for minircan,
    its split of the wall time (forward, backward, optimizer, engine, kernels; seconds per step)."""
    step = make_step(framework, config, batch, patch, scale, "cpu", conv_algorithm)
    step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    plain = (time.perf_counter() - t0) / steps
    if framework == "torch":
        import torch

        t0 = time.perf_counter()
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            for _ in range(steps):
                step()
        profiled = (time.perf_counter() - t0) / steps
        table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=row_limit)
        return dict(plain_s=plain, profiled_s=profiled, table=table)
    from .. import profiler

    with profiler.profile() as prof:
        for _ in range(steps):
            step()
    return dict(plain_s=plain, profiled_s=prof.wall_s / steps, table=prof.table(steps=steps),
                parts={k: v / steps for k, v in prof.parts().items()})


def run_profile(configs: list[str], threads: int, batch: int, patch: int, scale: int, steps: dict[str, int],
                with_torch: bool = True, conv_algorithm: str = "auto") -> list[dict]:
    """For each configuration: minircan's profile and (optionally) PyTorch's, each in its own process."""
    out = []
    for config in configs:
        common = [config, "--threads", str(threads), "--batch", str(batch), "--size", str(patch), "--scale",
                  str(scale), "--profile-steps", str(steps[config]), "--conv-algorithms", conv_algorithm]
        ours = run_worker(["--profile-worker", "minircan", *common])
        ref = run_worker(["--profile-worker", "torch", *common]) if with_torch else None
        out.append(dict(config=config, steps=steps[config], minircan=ours, torch=ref))
    return out


def format_profile(result: dict, batch: int, patch: int, scale: int) -> str:
    ours, ref, n = result["minircan"], result["torch"], result["steps"]
    head = (f"## {result['config']} RCAN x{scale}, batch {batch} of {patch}x{patch}, training step (forward, L1 "
            f"loss, backward, Adam), {n} step(s) after one warm-up")
    lines = [head, "", f"minircan step {ours['plain_s'] * 1e3:.1f} ms plain, {ours['profiled_s'] * 1e3:.1f} ms "
             "under minircan.profiler"]
    if ref is not None:
        lines[-1] += (f"; PyTorch step {ref['plain_s'] * 1e3:.1f} ms plain, {ref['profiled_s'] * 1e3:.1f} ms under "
                      f"torch.profiler; ratio (plain) {ours['plain_s'] / ref['plain_s']:.2f}x")
    lines += ["", ours["table"]]
    if ref is not None:
        lines += ["", f"PyTorch (torch.profiler, key_averages, self CPU time, totals over {n} step(s))",
                  ref["table"].rstrip()]
    return "\n".join(lines)
