"""The command line of ``python -m minircan.bench``: which benchmarks run, with which sizes and threads."""

from __future__ import annotations

import argparse
import json
import os
import sys

import numba

from .. import backends
from ..device import device as get_device
from .algorithms import format_algorithms, run_algorithms
from .common import BLAS_OVERRIDES, environment, gpu_environment, reexec_without_blas_overrides, torch_gpu_reference
from .contention import format_contention, run_contention
from .kernels import format_table, run_kernels
from .profile import format_profile, profile_worker, run_profile
from .tiling import format_tiling_table, run_tiling, tiling_worker
from .train_step import TRAIN_STEPS, format_train_table, run_train_steps, timed_steps, train_step_worker

PROFILE_STEPS = {"tiny": 5, "small": 2, "paper": 1}  # profiled steps per configuration (after one warm-up)
CONTENTION_LOADS = (0, 1, 3)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m minircan.bench",
        description="Time minircan's kernels and a full RCAN training step against PyTorch on the same threads "
                    "and device, and print the tables. --profile and --contention print their own tables "
                    "instead.")
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
    parser.add_argument("--steps", type=int, default=None,
                        help="timed training steps per measurement (default: "
                             f"{', '.join(f'{v} {k}' for k, v in TRAIN_STEPS.items())}; x5 on a GPU)")
    parser.add_argument("--conv-algorithms", nargs="+", default=["auto", "im2col"], choices=backends.CONV_ALGORITHMS,
                        metavar="ALGORITHM", help="minircan.backends.conv_algorithm values whose training step is "
                        "timed, one row each (default: auto im2col)")
    parser.add_argument("--no-kernels", action="store_true", help="skip the kernel table")
    parser.add_argument("--tiling", action="store_true",
                        help="also show upscaling memory: 500x500 and 2000x2000 LR images, whole and in tiles")
    parser.add_argument("--profile", nargs="*", metavar="CONFIG", choices=sorted(TRAIN_STEPS),
                        help="print instead a per-op profile of the training step of each CONFIG (none given: "
                             "tiny; the paper step takes about 30 s on 2 cores) from minircan.profiler, beside "
                             "torch.profiler's table (default: off)")
    parser.add_argument("--profile-steps", type=int, default=None,
                        help="steps profiled per configuration (default: "
                             f"{', '.join(f'{v} {k}' for k, v in PROFILE_STEPS.items())})")
    parser.add_argument("--contention", action="store_true",
                        help="print instead the tiny training step's time with 0, 1 and 3 busy processes beside "
                             "it: minircan (its usual threads, one thread, BLAS on every core) and PyTorch (its usual "
                             "threads, one thread)")
    parser.add_argument("--algorithms", nargs="?", const="tiny", metavar="CONFIG", choices=sorted(TRAIN_STEPS),
                        help="print instead im2col against Winograd F(4x4) on each 3x3 conv of CONFIG's RCAN (default: "
                             "tiny) on a batch of --batch --size x --size images at --scale, and what auto picks: "
                             "where auto's thresholds come from (e.g. --batch 8 --size 20: train --tiny's batch)")
    parser.add_argument("--worker", nargs=2, metavar=("FRAMEWORK", "CONFIG"), help=argparse.SUPPRESS)
    parser.add_argument("--tiling-worker", nargs=2, type=int, metavar=("SIZE", "TILE"), help=argparse.SUPPRESS)
    parser.add_argument("--profile-worker", nargs=2, metavar=("FRAMEWORK", "CONFIG"), help=argparse.SUPPRESS)
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
    if not args.keep_blas_env and any(k in os.environ for k in BLAS_OVERRIDES):
        reexec_without_blas_overrides(argv)
    for flag in ("steps", "profile_steps"):
        if getattr(args, flag) is not None and getattr(args, flag) < 1:
            print(f"python -m minircan.bench: error: --{flag.replace('_', '-')} must be at least 1", file=sys.stderr)
            return 2

    numba.set_num_threads(args.threads)
    try:
        args.device = get_device(args.device).name
    except (RuntimeError, ValueError) as e:
        print(f"python -m minircan.bench: {e}", file=sys.stderr)
        return 2
    if args.tiling_worker:
        print(json.dumps(tiling_worker(*args.tiling_worker)))
        return 0
    if args.worker or args.profile_worker:
        framework, config = args.worker or args.profile_worker
        if framework == "torch":
            import torch

            torch.set_num_threads(args.threads)
        if args.profile_worker:
            result = profile_worker(framework, config, args.batch, args.size, args.scale,
                                    args.profile_steps or PROFILE_STEPS[config], args.conv_algorithms[0])
        else:
            result = train_step_worker(framework, config, args.batch, args.size, args.scale,
                                       args.steps or timed_steps(config, args.device), args.device,
                                       args.conv_algorithms[0])
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
    if args.algorithms:
        if args.device != "cpu":
            print("python -m minircan.bench: error: --algorithms times the CPU's two algorithms; drop --device",
                  file=sys.stderr)
            return 2
        print(f"\n# conv algorithms on cpu: RCAN {args.algorithms} x{args.scale}, batch {args.batch} of {args.size}x"
              f"{args.size}, 3x3 pad 1, float32, median of {args.repeats}; ratio below 1: Winograd faster")
        print(format_algorithms(run_algorithms(args.algorithms, args.scale, args.batch, args.size, args.repeats)))
        return 0
    if args.profile is not None or args.contention:
        if args.device != "cpu":
            print("python -m minircan.bench: error: --profile and --contention time the CPU; drop --device",
                  file=sys.stderr)
            return 2
        if args.profile is not None:
            configs = args.profile or ["tiny"]
            steps = {c: args.profile_steps or PROFILE_STEPS[c] for c in configs}
            for result in run_profile(configs, args.threads, args.batch, args.size, args.scale, steps,
                                      not args.no_torch, args.conv_algorithms[0]):
                print("\n" + format_profile(result, args.batch, args.size, args.scale), flush=True)
        if args.contention:
            steps = args.steps or TRAIN_STEPS["tiny"]
            print(f"\n# contention: tiny training step (batch {args.batch}, {args.size}x{args.size}, x{args.scale}, "
                  f"conv {args.conv_algorithms[0]}), mean of {steps} steps after one warm-up, with k busy "
                  f"processes; default threads = {args.threads}", flush=True)
            rows = run_contention(CONTENTION_LOADS, args.threads, args.batch, args.size, args.scale, steps,
                                  with_torch=not args.no_torch, conv_algorithm=args.conv_algorithms[0],
                                  progress=lambda line: print(f"  {line}", file=sys.stderr, flush=True))
            print(format_contention(rows, CONTENTION_LOADS), flush=True)
        return 0
    if not args.no_kernels:
        each = "median of" if args.device == "cpu" else "10 back-to-back calls then a device sync, median of"
        print(f"\n# kernels on {args.device}, N={args.batch}, C=K={args.channels}, {args.size}x{args.size}, "
              f"3x3 pad 1, float32, {each} {args.repeats}")
        rows = run_kernels(args.batch, args.channels, args.size, args.repeats, with_torch=not args.no_torch,
                           device=args.device)
        print(format_table(rows), flush=True)
    if args.train_step:
        steps = {c: args.steps or timed_steps(c, args.device) for c in args.train_step}
        print(f"\n# full training step on {args.device} (forward, L1 loss, backward, Adam), median of "
              f"{', '.join(f'{steps[c]} ({c})' for c in args.train_step)} after one warm-up; "
              "memory of a fresh process")
        rows = run_train_steps(args.train_step, args.threads, args.batch, args.size, args.scale, not args.no_torch,
                               device=args.device, algorithms=tuple(args.conv_algorithms), steps=args.steps)
        print(format_train_table(rows, args.batch, args.size, args.scale), flush=True)
    if args.tiling:
        print("\n# upscaling memory: one process per row; peak resident memory of the whole process")
        rows = run_tiling([(500, 0), (500, 128), (2000, 0), (2000, 128)], args.threads)
        print(format_tiling_table(rows))
    return 0
