"""Benchmarks: ``python -m minircan.bench``.

Times every kernel at the paper's layer shape (N=16, C=K=64, 48x48 LR patches, 3x3, padding 1, float32)
against PyTorch on the CPU with the same number of threads, and prints a Markdown table: median time,
throughput (GFLOP/s for convolutions, GB/s of memory traffic for the rest) and the ratio to PyTorch
(ours / torch: below 1 is faster). PyTorch is optional: without it only minircan's column is filled.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numba
import numpy as np

from . import kernels as K


@dataclass
class Case:
    name: str
    ours: Callable[[], object]
    torch: Callable[[], object] | None
    work: float  # FLOPs for a conv, bytes moved otherwise
    unit: str  # "GFLOP/s" or "GB/s"


def median_time(fn: Callable[[], object], repeats: int, warmup: int = 2) -> float:
    """Median wall time of fn() over ``repeats`` runs, after ``warmup`` runs (JIT compile, caches)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def kernel_cases(n: int, c: int, hw: int, dtype=np.float32, with_torch: bool = True) -> list[Case]:
    """The kernel benchmark cases at batch n, c channels in and out, hw x hw images, 3x3 conv, pad 1."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, c, hw, hw)).astype(dtype)
    w = (rng.standard_normal((c, c, 3, 3)) * 0.05).astype(dtype)
    b = rng.standard_normal(c).astype(dtype)
    g = rng.standard_normal((n, c, hw, hw)).astype(dtype)
    y_relu, y_sig = K.relu.forward(x), K.sigmoid.forward(x)
    pooled_g = rng.standard_normal((n, c, 1, 1)).astype(dtype)
    xs = rng.standard_normal((n, 4 * c, hw, hw)).astype(dtype)  # the x2 upsampler's conv output
    ys = K.pixel_shuffle.pixel_shuffle(xs, 2)
    s1, p1 = (1, 1), (1, 1)
    flops = 2.0 * n * c * c * 9 * hw * hw
    nbytes = x.nbytes
    t = _torch_ops(x, w, b, g, y_relu, y_sig, pooled_g, xs, ys) if with_torch else {}
    return [
        Case("conv2d forward", lambda: K.conv2d.forward(x, w, b, s1, p1), t.get("conv_fwd"), flops, "GFLOP/s"),
        Case("conv2d input grad", lambda: K.conv2d.backward_input(g, w, x.shape, s1, p1), t.get("conv_dx"),
             flops, "GFLOP/s"),
        Case("conv2d weight+bias grad",
             lambda: (K.conv2d.backward_weight(g, x, w.shape, s1, p1), K.conv2d.backward_bias(g)),
             t.get("conv_dw"), flops, "GFLOP/s"),
        Case("relu forward", lambda: K.relu.forward(x), t.get("relu_fwd"), 2 * nbytes, "GB/s"),
        Case("relu backward", lambda: K.relu.backward(g, y_relu), t.get("relu_bwd"), 3 * nbytes, "GB/s"),
        Case("sigmoid forward", lambda: K.sigmoid.forward(x), t.get("sig_fwd"), 2 * nbytes, "GB/s"),
        Case("sigmoid backward", lambda: K.sigmoid.backward(g, y_sig), t.get("sig_bwd"), 3 * nbytes, "GB/s"),
        Case("avg pool forward", lambda: K.avg_pool.forward(x), t.get("gap_fwd"), nbytes, "GB/s"),
        Case("avg pool backward", lambda: K.avg_pool.backward(pooled_g, x.shape), t.get("gap_bwd"), nbytes, "GB/s"),
        Case("pixel shuffle (x2)", lambda: K.pixel_shuffle.pixel_shuffle(xs, 2), t.get("ps"), 2 * xs.nbytes, "GB/s"),
        Case("pixel unshuffle (x2)", lambda: K.pixel_shuffle.pixel_unshuffle(ys, 2), t.get("pus"),
             2 * xs.nbytes, "GB/s"),
    ]


def _torch_ops(x, w, b, g, y_relu, y_sig, pooled_g, xs, ys) -> dict[str, Callable[[], object]]:
    try:
        import torch
    except ImportError:
        return {}
    tx, tw, tb, tg = (torch.from_numpy(a) for a in (x, w, b, g))
    ty_relu, ty_sig, tpg = torch.from_numpy(y_relu), torch.from_numpy(y_sig), torch.from_numpy(pooled_g)
    txs, tys = torch.from_numpy(xs), torch.from_numpy(ys)
    F = torch.nn.functional
    conv_bwd = torch.ops.aten.convolution_backward

    def conv_grad(mask):
        return lambda: conv_bwd(tg, tx, tw, [tw.shape[0]], [1, 1], [1, 1], [1, 1], False, [0, 0], 1, mask)

    with torch.no_grad():
        return {
            "conv_fwd": lambda: F.conv2d(tx, tw, tb, padding=1),
            "conv_dx": conv_grad([True, False, False]),
            "conv_dw": conv_grad([False, True, True]),
            "relu_fwd": lambda: torch.relu(tx),
            "relu_bwd": lambda: torch.ops.aten.threshold_backward(tg, ty_relu, 0),
            "sig_fwd": lambda: torch.sigmoid(tx),
            "sig_bwd": lambda: torch.ops.aten.sigmoid_backward(tg, ty_sig),
            "gap_fwd": lambda: F.adaptive_avg_pool2d(tx, 1),
            "gap_bwd": lambda: torch.ops.aten._adaptive_avg_pool2d_backward(tpg, tx),
            "ps": lambda: F.pixel_shuffle(txs, 2),
            "pus": lambda: F.pixel_unshuffle(tys, 2),
        }


def run_kernels(n: int, c: int, hw: int, repeats: int, with_torch: bool = True) -> list[dict]:
    """Time every case: all of minircan's first, then all of PyTorch's.

    Two phases, not alternating: PyTorch's OpenMP workers keep spinning for a while after each call, and on
    a 2-core machine a spinning worker halves the speed of whatever runs next (measured here: a conv2d
    forward timed right after a PyTorch call took 2x as long).
    """
    cases = kernel_cases(n, c, hw, with_torch=with_torch)
    ours = [median_time(case.ours, repeats) for case in cases]
    refs = [median_time(case.torch, repeats) if case.torch is not None else None for case in cases]
    return [dict(name=case.name, ours=t, torch=ref, rate=case.work / t / 1e9, unit=case.unit,
                 ratio=None if ref is None else t / ref) for case, t, ref in zip(cases, ours, refs)]


def format_table(rows: list[dict]) -> str:
    lines = ["| kernel | minircan (ms) | PyTorch (ms) | minircan throughput | ratio (minircan / PyTorch) |",
             "|---|---:|---:|---:|---:|"]
    for r in rows:
        ref = "-" if r["torch"] is None else f"{r['torch'] * 1e3:.2f}"
        ratio = "-" if r["ratio"] is None else f"{r['ratio']:.2f}x"
        lines.append(f"| {r['name']} | {r['ours'] * 1e3:.2f} | {ref} | {r['rate']:.1f} {r['unit']} | {ratio} |")
    return "\n".join(lines)


def environment(threads: int) -> str:
    blas = {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ}
    parts = [f"threads={threads}", f"numpy {np.__version__}", f"numba {numba.__version__} "
             f"({numba.config.THREADING_LAYER} layer)"]
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


_BLAS_OVERRIDES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def _reexec_without_blas_overrides(argv: list[str]) -> None:
    """Restart this command without the OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE overrides.

    Some machines set them to force old OpenBLAS builds onto a safe code path; they also make a current
    NumPy's OpenBLAS use older, slower matrix kernels (here: Haswell's AVX2 instead of the CPU's AVX-512).
    OpenBLAS reads them once when NumPy loads, so the only way to drop them is a fresh process.
    """
    env = {k: v for k, v in os.environ.items() if k not in _BLAS_OVERRIDES}
    env["MINIRCAN_BENCH_DROPPED"] = ",".join(f"{k}={os.environ[k]}" for k in _BLAS_OVERRIDES if k in os.environ)
    os.execve(sys.executable, [sys.executable, "-m", "minircan.bench", *argv], env)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m minircan.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=16, help="N (paper: 16)")
    parser.add_argument("--channels", type=int, default=64, help="C = K (paper: 64)")
    parser.add_argument("--size", type=int, default=48, help="H = W of the LR patch (paper: 48)")
    parser.add_argument("--repeats", type=int, default=10, help="timed runs per case; the median is shown")
    parser.add_argument("--threads", type=int, default=numba.config.NUMBA_NUM_THREADS,
                        help="threads for Numba and PyTorch (default: all cores)")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch column")
    parser.add_argument("--keep-blas-env", action="store_true",
                        help="keep OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE if set (default: restart without them)")
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    if not args.keep_blas_env and any(k in os.environ for k in _BLAS_OVERRIDES):
        _reexec_without_blas_overrides(argv)

    numba.set_num_threads(args.threads)
    try:
        import torch

        torch.set_num_threads(args.threads)
    except ImportError:
        pass
    print(f"# minircan kernels, N={args.batch}, C=K={args.channels}, {args.size}x{args.size}, 3x3 pad 1, float32")
    print(f"# {environment(args.threads)}")
    rows = run_kernels(args.batch, args.channels, args.size, args.repeats, with_torch=not args.no_torch)
    print(format_table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
