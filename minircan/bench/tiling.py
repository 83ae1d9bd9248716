"""The tiling benchmark: upscaling memory and time of the tiny RCAN, whole image against tiles."""

from __future__ import annotations

import time

import numpy as np

from .common import peak_rss_mb, run_worker

def tiling_worker(size: int, tile: int) -> dict:
    """Upscale a random size x size LR image with the tiny RCAN (random weights), whole (tile 0) or tiled."""
    from .. import manual_seed
    from ..inference import upscale_image
    from ..models.rcan import RCAN

    manual_seed(0)
    model = RCAN.from_config("tiny", scale=2)
    lr = (np.random.default_rng(0).random((3, size, size)) * 255).astype(np.float32)
    base = peak_rss_mb()
    t0 = time.perf_counter()
    upscale_image(model, lr, 2, tile=tile)
    return dict(size=size, tile=tile, seconds=time.perf_counter() - t0, peak_rss_mb=peak_rss_mb(), base_mb=base)


def run_tiling(cases: list[tuple[int, int]], threads: int) -> list[dict]:
    """One fresh process per (size, tile), so that each row's peak memory is its own."""
    return [run_worker(["--tiling-worker", str(size), str(tile), "--threads", str(threads)]) for size, tile in cases]


def format_tiling_table(rows: list[dict]) -> str:
    lines = ["| tiny RCAN x2, LR input | tile (LR px) | seconds | peak memory MB | before the pass MB |",
             "|---|---:|---:|---:|---:|"]
    for r in rows:
        tile = "whole image" if r["tile"] == 0 else str(r["tile"])
        lines.append(f"| {r['size']}x{r['size']} | {tile} | {r['seconds']:.1f} | {r['peak_rss_mb']:.0f} | "
                     f"{r['base_mb']:.0f} |")
    return "\n".join(lines)


