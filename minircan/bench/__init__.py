"""Benchmarks: ``python -m minircan.bench``.

One module per benchmark, each timing minircan against PyTorch on the same threads (PyTorch is optional):

- ``kernels``: every kernel at the paper's layer shape, one row per conv algorithm (the default table);
- ``train_step``: a full training step (forward, L1 loss, backward, Adam) of the tiny and paper RCAN;
- ``tiling`` (``--tiling``): upscaling time and memory, whole image against tiles;
- ``profile`` (``--profile``): where a training step's time goes, per op, per kernel and in the engine
  (``minircan.profiler``), beside ``torch.profiler``'s table;
- ``contention`` (``--contention``): the tiny step with 0, 1 and 3 busy processes beside it, default threads
  against one thread;
- ``algorithms`` (``--algorithms``): im2col against Winograd F(4x4) on each 3x3 conv shape of one RCAN
  configuration, and what ``auto`` picks for it (minircan only).

``common`` holds the timing loop, peak memory, worker processes and the environment line; ``cli`` the
command line.
"""

from .cli import build_parser, main
from .common import device_sync, median_time, peak_rss_mb
from .kernels import WINOGRAD_TILES, Case, format_table, kernel_cases, run_kernels
from .train_step import format_train_table, make_step, run_train_steps, train_step_worker

__all__ = ["WINOGRAD_TILES", "Case", "build_parser", "device_sync", "format_table", "format_train_table",
           "kernel_cases", "main", "make_step", "median_time", "peak_rss_mb", "run_kernels", "run_train_steps",
           "train_step_worker"]
