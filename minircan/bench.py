"""Benchmarks: ``python -m minircan.bench``.

Times every kernel at the paper's layer shape (N=16, C=K=64, 48x48 LR patches, 3x3, padding 1, float32)
against PyTorch on the CPU with the same number of threads, and prints a Markdown table: median time,
throughput (GFLOP/s for convolutions, GB/s of memory traffic for the rest) and the ratio to PyTorch
(ours / torch: below 1 is faster). PyTorch is optional: without it only minircan's column is filled.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numba
import numpy as np

from . import backends
from .device import device as get_device

WINOGRAD_TILES = (4, 2)  # the fast rung first; F(2x2) is the teaching rung (generic, slower transforms)


@dataclass
class Case:
    name: str
    ours: Callable[[], object]
    torch: Callable[[], object] | None
    work: float  # FLOPs for a conv, bytes moved otherwise
    unit: str  # "GFLOP/s" or "GB/s"


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


def kernel_cases(n: int, c: int, hw: int, dtype=np.float32, with_torch: bool = True, device="cpu",
                 torch_device: str = "cpu") -> list[Case]:
    """The kernel benchmark cases at batch n, c channels in and out, hw x hw images, 3x3 conv, pad 1: the
    kernels of minircan's ``device`` (its kernel table) against PyTorch's on ``torch_device``."""
    dev = get_device(device)
    k = dev.kernels
    rng = np.random.default_rng(0)
    host = dict(x=rng.standard_normal((n, c, hw, hw)), w=rng.standard_normal((c, c, 3, 3)) * 0.05,
                b=rng.standard_normal(c), g=rng.standard_normal((n, c, hw, hw)),
                pooled_g=rng.standard_normal((n, c, 1, 1)),
                xs=rng.standard_normal((n, 4 * c, hw, hw)))  # xs: the x2 upsampler's conv output
    a = {name: dev.xp.asarray(v.astype(dtype)) for name, v in host.items()}
    x, w, b, g, pooled_g, xs = (a[name] for name in ("x", "w", "b", "g", "pooled_g", "xs"))
    y_relu, y_sig, ys = k.relu_forward(x), k.sigmoid_forward(x), k.pixel_shuffle(xs, 2)
    s1, p1 = (1, 1), (1, 1)
    flops = 2.0 * n * c * c * 9 * hw * hw
    nbytes = x.nbytes
    t = {}
    if with_torch:
        t = _torch_ops(*(dev.to_numpy(v) for v in (x, w, b, g, y_relu, y_sig, pooled_g, xs, ys)), device=torch_device)
    convs = [
        Case("conv2d forward, im2col", lambda: k.conv2d_forward(x, w, b, s1, p1), t.get("conv_fwd"), flops, "GFLOP/s"),
        Case("conv2d input grad, im2col", lambda: k.conv2d_backward_input(g, w, x.shape, s1, p1), t.get("conv_dx"),
             flops, "GFLOP/s"),
        Case("conv2d weight+bias grad, im2col",
             lambda: k.conv2d_backward_params(g, x, w.shape, s1, p1, bias=True),
             t.get("conv_dw"), flops, "GFLOP/s"),
    ]
    if getattr(k, "conv2d_winograd_forward", None) is not None:
        # GFLOP/s of Winograd rows count the direct convolution's multiply-adds: an effective rate, comparable
        # across rows, above what the machine's multipliers can do when Winograd saves multiplications.
        for m in WINOGRAD_TILES:
            name = f"winograd F({m}x{m})"
            convs += [
                Case(f"conv2d forward, {name}", lambda m=m: k.conv2d_winograd_forward(x, w, b, p1, m),
                     t.get("conv_fwd"), flops, "GFLOP/s"),
                Case(f"conv2d input grad, {name}", lambda m=m: k.conv2d_winograd_backward_input(g, w, x.shape, p1, m),
                     t.get("conv_dx"), flops, "GFLOP/s"),
                Case(f"conv2d weight+bias grad, {name}",
                     lambda m=m: k.conv2d_winograd_backward_params(g, x, w.shape, p1, True, m),
                     t.get("conv_dw"), flops, "GFLOP/s"),
            ]
    return convs + [
        Case("relu forward", lambda: k.relu_forward(x), t.get("relu_fwd"), 2 * nbytes, "GB/s"),
        Case("relu backward", lambda: k.relu_backward(g, y_relu), t.get("relu_bwd"), 3 * nbytes, "GB/s"),
        Case("sigmoid forward", lambda: k.sigmoid_forward(x), t.get("sig_fwd"), 2 * nbytes, "GB/s"),
        Case("sigmoid backward", lambda: k.sigmoid_backward(g, y_sig), t.get("sig_bwd"), 3 * nbytes, "GB/s"),
        Case("avg pool forward", lambda: k.avg_pool_forward(x), t.get("gap_fwd"), nbytes, "GB/s"),
        Case("avg pool backward", lambda: k.avg_pool_backward(pooled_g, x.shape), t.get("gap_bwd"), nbytes, "GB/s"),
        Case("pixel shuffle (x2)", lambda: k.pixel_shuffle(xs, 2), t.get("ps"), 2 * xs.nbytes, "GB/s"),
        Case("pixel unshuffle (x2)", lambda: k.pixel_unshuffle(ys, 2), t.get("pus"), 2 * xs.nbytes, "GB/s"),
    ]


def _torch_ops(x, w, b, g, y_relu, y_sig, pooled_g, xs, ys, device: str = "cpu") -> dict[str, Callable[[], object]]:
    try:
        import torch
    except ImportError:
        return {}
    tx, tw, tb, tg = (torch.from_numpy(a).to(device) for a in (x, w, b, g))
    ty_relu, ty_sig, tpg = (torch.from_numpy(a).to(device) for a in (y_relu, y_sig, pooled_g))
    txs, tys = torch.from_numpy(xs).to(device), torch.from_numpy(ys).to(device)
    F = torch.nn.functional
    conv_bwd = torch.ops.aten.convolution_backward

    def conv_grad(mask):
        return lambda: conv_bwd(tg, tx, tw, [tw.shape[0]], [1, 1], [1, 1], [1, 1], False, [0, 0], 1, mask)

    # None of these tensors requires a gradient, so PyTorch records no graph.
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


def run_kernels(n: int, c: int, hw: int, repeats: int, with_torch: bool = True, device: str = "cpu") -> list[dict]:
    """Time every case: all of minircan's first, then all of PyTorch's.

    Two phases, not alternating: PyTorch's OpenMP workers keep spinning for a while after each call, and on
    a 2-core machine a spinning worker halves the speed of whatever runs next (measured here: a conv2d
    forward timed right after a PyTorch call took 2x as long).
    """
    cases = kernel_cases(n, c, hw, with_torch=with_torch, device=device, torch_device=device)
    sync, inner = device_sync(device), (1 if device == "cpu" else 10)
    ours = [median_time(case.ours, repeats, sync=sync, inner=inner) for case in cases]
    timed: dict[int, float] = {}  # several rows (one per algorithm) share one PyTorch call: time it once
    for case in cases:
        if case.torch is not None and id(case.torch) not in timed:
            timed[id(case.torch)] = median_time(case.torch, repeats, sync=sync, inner=inner)
    refs = [timed[id(case.torch)] if case.torch is not None else None for case in cases]
    return [dict(name=case.name, ours=t, torch=ref, rate=case.work / t / 1e9, unit=case.unit,
                 ratio=None if ref is None else t / ref) for case, t, ref in zip(cases, ours, refs)]


# ----- a full training step ---------------------------------------------------------------------------

TRAIN_STEPS = {"tiny": 20, "small": 10, "paper": 2}  # timed steps per configuration (after one warm-up)


def timed_steps(config: str, device: str) -> int:
    """How many training steps to time: a GPU step is short, so it gets five times as many."""
    return TRAIN_STEPS[config] * (5 if device == "cuda" else 1)


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM), in MB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def train_step_worker(framework: str, config: str, batch: int, patch: int, scale: int, steps: int,
                      device: str = "cpu", conv_algorithm: str = "auto") -> dict:
    """Time forward + L1 loss + backward + Adam step of RCAN(config) on one batch; report the peak memory.

    Runs in a fresh process per (framework, configuration), so that the peak memory is that run's alone:
    resident memory on the CPU; on a GPU, PyTorch's peak allocation and the size of CuPy's memory pool
    (which keeps every block it ever allocated, so its size is minircan's peak).
    """
    from .models.rcan import CONFIGS

    rng = np.random.default_rng(0)
    lr_batch = (rng.random((batch, 3, patch, patch)) * 255).astype(np.float32)
    hr_batch = (rng.random((batch, 3, patch * scale, patch * scale)) * 255).astype(np.float32)
    if framework == "torch":
        import torch

        from .torch_reference import TorchRCAN

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
        from . import functional as F
        from . import manual_seed
        from .models.rcan import RCAN
        from .optim import Adam
        from .tensor import Tensor

        manual_seed(0)
        backends.conv_algorithm = conv_algorithm
        model = RCAN(scale=scale, **CONFIGS[config]).to(device)
        opt = Adam([p for p in model.parameters() if p.requires_grad], lr=1e-4)
        x, y = Tensor(lr_batch, device=device), Tensor(hr_batch, device=device)

        def step():
            opt.zero_grad()
            F.l1_loss(model(x), y).backward()
            opt.step()

    step()  # warm-up: JIT and NVRTC compilation, first-touch allocations, cuDNN's algorithm search
    result = dict(step_s=median_time(step, steps, warmup=0, sync=device_sync(device)), peak_rss_mb=peak_rss_mb())
    if device == "cuda":
        if framework == "torch":
            result["gpu_mb"] = torch.cuda.max_memory_allocated() / 2**20
        else:
            import cupy

            result["gpu_mb"] = cupy.get_default_memory_pool().total_bytes() / 2**20
    return result


def run_train_steps(configs: list[str], threads: int, batch: int, patch: int, scale: int,
                    with_torch: bool = True, device: str = "cpu", algorithms: tuple = ("auto",)) -> list[dict]:
    """One row per (configuration, conv algorithm); PyTorch runs once per configuration and is shared."""
    import subprocess

    def worker(framework: str, config: str, algorithm: str) -> dict:
        cmd = [sys.executable, "-m", "minircan.bench", "--worker", framework, config, "--threads", str(threads),
               "--batch", str(batch), "--size", str(patch), "--scale", str(scale), "--keep-blas-env",
               "--device", device, "--conv-algorithms", algorithm]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        return json.loads(out.strip().splitlines()[-1])

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


# ----- tiled upscaling: memory bounded by the tile ------------------------------------------------------


def tiling_worker(size: int, tile: int) -> dict:
    """Upscale a random size x size LR image with the tiny RCAN (random weights), whole (tile 0) or tiled."""
    from . import manual_seed
    from .inference import upscale_image
    from .models.rcan import RCAN

    manual_seed(0)
    model = RCAN.from_config("tiny", scale=2)
    lr = (np.random.default_rng(0).random((3, size, size)) * 255).astype(np.float32)
    base = peak_rss_mb()
    t0 = time.perf_counter()
    upscale_image(model, lr, 2, tile=tile)
    return dict(size=size, tile=tile, seconds=time.perf_counter() - t0, peak_rss_mb=peak_rss_mb(), base_mb=base)


def run_tiling(cases: list[tuple[int, int]], threads: int) -> list[dict]:
    import subprocess

    rows = []
    for size, tile in cases:
        cmd = [sys.executable, "-m", "minircan.bench", "--tiling-worker", str(size), str(tile), "--threads",
               str(threads), "--keep-blas-env"]
        rows.append(json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.split("\n")[-2]))
    return rows


def format_tiling_table(rows: list[dict]) -> str:
    lines = ["| tiny RCAN x2, LR input | tile (LR px) | seconds | peak memory MB | before the pass MB |",
             "|---|---:|---:|---:|---:|"]
    for r in rows:
        tile = "whole image" if r["tile"] == 0 else str(r["tile"])
        lines.append(f"| {r['size']}x{r['size']} | {tile} | {r['seconds']:.1f} | {r['peak_rss_mb']:.0f} | "
                     f"{r['base_mb']:.0f} |")
    return "\n".join(lines)


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
    get_device("cpu").kernels.relu_forward(np.zeros(1, np.float32))  # a parallel loop picks the threading layer
    parts = [f"threads={threads}", f"conv auto: winograd F({backends.winograd_tile}x{backends.winograd_tile}) for "
             f"3x3 stride 1 with >= {backends.WINOGRAD_MIN_CHANNELS} input channels, else im2col",
             f"numpy {np.__version__}", f"numba {numba.__version__} ({numba.threading_layer()} layer)",
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m minircan.bench",
        description="Time minircan's kernels and a full RCAN training step against PyTorch on the same threads "
                    "and device, and print the tables.")
    parser.add_argument("--batch", type=int, default=16, help="N, the batch (default: 16, as the paper)")
    parser.add_argument("--channels", type=int, default=64,
                        help="C = K, channels in and out of the timed conv (default: 64, as the paper)")
    parser.add_argument("--size", type=int, default=48, help="H = W of the LR patch (default: 48, as the paper)")
    parser.add_argument("--repeats", type=int, default=10,
                        help="timed runs per case; the median is shown (default: 10)")
    parser.add_argument("--threads", type=int, default=numba.config.NUMBA_NUM_THREADS,
                        help="threads for Numba and PyTorch (default: all cores)")
    parser.add_argument("--scale", type=int, default=2,
                        help="upscaling factor of the timed training step (default: 2)")
    parser.add_argument("--train-step", nargs="*", default=["tiny", "paper"], metavar="CONFIG",
                        help="RCAN configurations whose full training step is timed (default: tiny paper; "
                             "none: skip)")
    parser.add_argument("--conv-algorithms", nargs="+", default=["auto", "im2col"], choices=backends.CONV_ALGORITHMS,
                        metavar="ALGORITHM", help="minircan.backends.conv_algorithm values whose training step is "
                        "timed, one row each (default: auto im2col)")
    parser.add_argument("--no-kernels", action="store_true", help="skip the kernel table")
    parser.add_argument("--tiling", action="store_true",
                        help="also show upscaling memory: 500x500 and 2000x2000 LR images, whole and in tiles")
    parser.add_argument("--worker", nargs=2, metavar=("FRAMEWORK", "CONFIG"), help=argparse.SUPPRESS)
    parser.add_argument("--tiling-worker", nargs=2, type=int, metavar=("SIZE", "TILE"), help=argparse.SUPPRESS)
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch column")
    parser.add_argument("--device", default="cpu",
                        help="cpu, cuda or auto: whose kernels and training step to time, against PyTorch on the "
                             "same device (on a GPU: float32, TF32 off) (default: cpu)")
    parser.add_argument("--keep-blas-env", action="store_true",
                        help="keep OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE if set (default: restart without them)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    if not args.keep_blas_env and any(k in os.environ for k in _BLAS_OVERRIDES):
        _reexec_without_blas_overrides(argv)

    numba.set_num_threads(args.threads)
    try:
        args.device = get_device(args.device).name
    except (RuntimeError, ValueError) as e:
        print(f"python -m minircan.bench: {e}", file=sys.stderr)
        return 2
    if args.tiling_worker:
        print(json.dumps(tiling_worker(*args.tiling_worker)))
        return 0
    if args.worker:
        if args.worker[0] == "torch":
            import torch

            torch.set_num_threads(args.threads)
        config = args.worker[1]
        result = train_step_worker(args.worker[0], config, args.batch, args.size, args.scale,
                                   timed_steps(config, args.device), args.device, args.conv_algorithms[0])
        print(json.dumps(result))
        return 0
    try:
        import torch

        torch.set_num_threads(args.threads)
        if args.device == "cuda":
            torch_gpu_reference()
    except ImportError:
        args.no_torch = True
    print(f"# {environment(args.threads) if args.device == 'cpu' else gpu_environment()}")
    if not args.no_kernels:
        each = "median of" if args.device == "cpu" else "10 back-to-back calls then a device sync, median of"
        print(f"\n# kernels on {args.device}, N={args.batch}, C=K={args.channels}, {args.size}x{args.size}, "
              f"3x3 pad 1, float32, {each} {args.repeats}")
        rows = run_kernels(args.batch, args.channels, args.size, args.repeats, with_torch=not args.no_torch,
                           device=args.device)
        print(format_table(rows), flush=True)
    if args.train_step:
        print(f"\n# full training step on {args.device} (forward, L1 loss, backward, Adam), median of "
              f"{', '.join(f'{timed_steps(c, args.device)} ({c})' for c in args.train_step)} after one warm-up; "
              "memory of a fresh process")
        rows = run_train_steps(args.train_step, args.threads, args.batch, args.size, args.scale, not args.no_torch,
                               device=args.device, algorithms=tuple(args.conv_algorithms))
        print(format_train_table(rows, args.batch, args.size, args.scale), flush=True)
    if args.tiling:
        print("\n# upscaling memory: one process per row; peak resident memory of the whole process")
        rows = run_tiling([(500, 0), (500, 128), (2000, 0), (2000, 128)], args.threads)
        print(format_tiling_table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
