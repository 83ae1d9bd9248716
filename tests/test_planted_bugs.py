"""Planted bugs: each is a realistic mistake, planted in a temporary copy of the checkout, and the named
targeted checks must FAIL on that copy (and pass on an unpatched copy). A test is worth what it catches;
this file keeps that true as the code and the tests change.

How: the checkout's ``minircan/``, ``kernels/``, ``tests/`` and ``pyproject.toml`` are copied to a temporary
folder (the real tree is never touched); one bug is an exact ``old`` -> ``new`` text replacement in one file,
and ``old`` must occur exactly once, so that a refactor makes the bug fail here loudly instead of silently
planting nothing. Only the bug's checks run (``pytest <checks> -x -q`` with the copy as working directory,
first on sys.path), and they must end in a test failure (exit status 1), not in an import or collection
error. Speed (the whole file runs in the default ``python -m pytest``): two bugs run at a time, each in a
child forked from a server process that has already imported PyTorch, NumPy, Numba, Hypothesis and pytest
(but never minircan, which each child imports from its copy); Numba's compiled kernels are cached beside
their sources (``kernels/__pycache__``) and copies keep the files' modification times, so a copy reuses the
kernels compiled by the unpatched run and compiles again only the file its bug patched.

The inventory. Here (file: bug -> catching check):
    see BUGS below; ``python -m pytest tests/test_planted_bugs.py -q -rA`` lists them by name.
In tests/test_cuda_emulator.py (the CUDA C kernels on the CPU emulator; not repeated here):
    conv2d.cu, a __syncthreads() of the tiled conv removed: test_a_missing_syncthreads_in_the_tiled_conv_makes_it_wrong
    relu.cu, an off-by-one bounds guard (i <= n): test_an_off_by_one_bounds_guard_is_caught
    avg_pool.cu, a guard that returns before a barrier: test_a_bounds_guard_that_returns_before_a_barrier_is_caught
    sigmoid.cu, a kernel that skips elements: test_a_kernel_that_skips_elements_leaves_nan
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
WORKERS = 2
_CHILD = "MINIRCAN_PLANTED_BUG_CHILD"  # set in the subprocesses: this file never runs inside a copy


@dataclass(frozen=True)
class Bug:
    name: str
    path: str                 # the file, relative to the checkout
    old: str                  # exact text, found exactly once
    new: str
    checks: tuple[str, ...]   # pytest node ids (relative to the checkout) of which at least one must fail


CONV = "tests/test_kernels_conv2d.py::"
THREADS = "tests/test_kernels_conv2d_threads.py::"
WINO = "tests/test_kernels_winograd.py::"
CHUNKS = (CONV + "test_conv2d_lowered_in_several_chunks_matches_torch[float64]",)
ELEM = "tests/test_kernels_elementwise.py::"
AUTO = "tests/test_autograd.py::"
OPTIM = "tests/test_optim.py::"

BUGS = [
    # ----- kernels/conv2d.py: lowering in chunks, the lowering itself, the two axes ------------------------
    Bug("conv forward lowers the first images of the batch in every chunk", "kernels/conv2d.py",
        "im2col(x[n0:n1], cols[: n1 - n0], kh, kw, stride[0], stride[1], padding[0], padding[1])\n"
        "        np.matmul(w2,",
        "im2col(x[: n1 - n0], cols[: n1 - n0], kh, kw, stride[0], stride[1], padding[0], padding[1])\n"
        "        np.matmul(w2,", CHUNKS),
    Bug("conv input gradient takes the first images' upstream gradient in every chunk", "kernels/conv2d.py",
        "np.matmul(w2t, g[n0:n1], out=dcols[: n1 - n0])",
        "np.matmul(w2t, g[: n1 - n0], out=dcols[: n1 - n0])", CHUNKS),
    Bug("conv weight gradient lowers the first images of the batch in every chunk", "kernels/conv2d.py",
        "im2col(x[n0:n1], cols[: n1 - n0], kh, kw, stride[0], stride[1], padding[0], padding[1])\n"
        "        np.matmul(cols",
        "im2col(x[: n1 - n0], cols[: n1 - n0], kh, kw, stride[0], stride[1], padding[0], padding[1])\n"
        "        np.matmul(cols", CHUNKS),
    Bug("conv weight gradient keeps only the last chunk's sum", "kernels/conv2d.py",
        "    dwt = np.zeros((rows, K), dtype=x.dtype)\n    for n0 in range(0, N, step):\n",
        "    for n0 in range(0, N, step):\n        dwt = np.zeros((rows, K), dtype=x.dtype)\n", CHUNKS),
    Bug("im2col orders a filter's taps column-major (j before i)", "kernels/conv2d.py",
        "                r = (c * kh + i) * kw + j\n                for ho in range(Ho):\n"
        "                    hi = ho * sh + i - ph\n                    base = ho * Wo\n",
        "                r = (c * kw + j) * kh + i\n                for ho in range(Ho):\n"
        "                    hi = ho * sh + i - ph\n                    base = ho * Wo\n",
        (CONV + "test_conv2d_rcan_layer_shape_float32",)),
    Bug("col2im overwrites instead of adding overlapping contributions", "kernels/conv2d.py",
        "dx[n, c, hi, wi] += cols[n, r, base + wo]", "dx[n, c, hi, wi] = cols[n, r, base + wo]",
        (CONV + "test_conv2d_rcan_layer_shape_float32",)),
    Bug("col2im uses the row stride for columns", "kernels/conv2d.py",
        "                        wi = wo * sw + j - pw\n                        if 0 <= wi < W:\n"
        "                            dx[n, c, hi, wi] +=",
        "                        wi = wo * sh + j - pw\n                        if 0 <= wi < W:\n"
        "                            dx[n, c, hi, wi] +=", (CONV + "test_conv2d_matches_torch[float64]",)),
    Bug("col2im uses the column padding for rows", "kernels/conv2d.py",
        "                    hi = ho * sh + i - ph\n                    if hi < 0 or hi >= H:\n"
        "                        continue\n",
        "                    hi = ho * sh + i - pw\n                    if hi < 0 or hi >= H:\n"
        "                        continue\n", (CONV + "test_conv2d_matches_torch[float64]",)),
    Bug("output width divided by the row stride", "kernels/conv2d.py",
        "(w + 2 * padding[1] - kw) // stride[1] + 1", "(w + 2 * padding[1] - kw) // stride[0] + 1",
        (CONV + "test_conv2d_matches_torch[float64]",)),
    # ----- kernels/conv2d_threads.py: the batch in jobs, the input gradient as a conv --------------------------
    Bug("threaded weight gradient keeps only the last job's sum", "kernels/conv2d_threads.py",
        "dw = dw + dw_job", "dw = dw_job", (THREADS + "test_matches_torch_in_jobs[float64]",)),
    Bug("the batch's last job is dropped", "kernels/conv2d_threads.py",
        "    return list(zip(edges, edges[1:]))", "    return list(zip(edges, edges[1:-1])) or [(0, n)]",
        (THREADS + "test_matches_torch_in_jobs[float64]",)),
    Bug("jobs are cut by the thread count", "kernels/conv2d_threads.py",
        "    count = -(-n // most)", "    count = max(-(-n // most), thread_pool.workers())",
        (THREADS + "test_the_same_bits_on_one_thread_as_on_two",)),
    Bug("input gradient as a conv flips the kernel in one axis only", "kernels/conv2d.py",
        "np.asarray(w)[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)", "np.asarray(w)[:, :, ::-1, :].transpose(1, 0, 2, 3)",
        (THREADS + "test_input_gradient_of_each_path_matches_torch_float64",)),
    Bug("input gradient as a conv takes each axis's padding from the other", "kernels/conv2d_threads.py",
        "(kh - 1 - padding[0], kw - 1 - padding[1])", "(kh - 1 - padding[1], kw - 1 - padding[0])",
        (THREADS + "test_input_gradient_of_each_path_matches_torch_float64",)),
    Bug("input gradient as a conv even where it does not pay (K > C)", "kernels/conv2d_threads.py",
        "padding[1] <= kw - 1 and K <= C", "padding[1] <= kw - 1", (THREADS + "test_input_gradient_paths",)),
    # ----- kernels/winograd.py: blocks as jobs --------------------------------------------------------------
    Bug("Winograd weight gradient keeps only the last block's sum", "kernels/winograd.py",
        "        S += part\n", "        S[:] = part\n", (WINO + "test_blocks_of_one_tile_row",)),
    Bug("Winograd's blocks stop one tile row short", "kernels/winograd.py",
        "[(q0, min(n_rows, q0 + rows))", "[(q0, min(n_rows - 1, q0 + rows))", (WINO + "test_blocks_of_one_tile_row",)),
    # ----- kernels/winograd.py: F(4x4)'s transforms along a whole block (one spare tile a tile row) ------------
    Bug("F(4x4) input transform leaves the spare tiles unset", "kernels/winograd.py",
        "                    V[p + b, c, spare] = 0\n", "                    pass\n",
        (WINO + "test_fast_f4_transforms_equal_the_matrices",)),
    Bug("F(4x4) input transform takes a tile's last column from the wrong phase", "kernels/winograd.py",
        "s[a, 0, 1:], s[a, 1, 1:]", "s[a, 0, 1:], s[a, 0, 1:]", (WINO + "test_partial_edge_tiles",)),
    Bug("F(4x4) input transform drops the input's last column", "kernels/winograd.py",
        "lo, hi = max(0, pw), min(Wp, W + pw)", "lo, hi = max(0, pw), min(Wp, W + pw - 1)",
        (WINO + "test_partial_edge_tiles",)),
    Bug("F(4x4) output transform forgets the spare tile in a row's length", "kernels/winograd.py",
        "            base = qi * (TW + 1)\n            for i in range(min(4, Ho - h0)):",
        "            base = qi * TW\n            for i in range(min(4, Ho - h0)):",
        (WINO + "test_one_block_of_many_tile_rows_across_images",)),
    Bug("F(4x4) gradient transform reads g's rows one tile row off", "kernels/winograd.py",
        "_copy(z[i, qi * Wp:], g[img, k, h0 + i], Wo)",
        "_copy(z[i, qi * Wp:], g[img, k, min(h0 + i + 4, Ho - 1)], Wo)",
        (WINO + "test_partial_edge_tiles",)),
    Bug("F(4x4) column phases swapped (2 for 3) when a row is split by phase", "kernels/winograd.py",
        "            s2[u] = ta[4 * u + 2]\n            s3[u] = ta[4 * u + 3]",
        "            s2[u] = ta[4 * u + 3]\n            s3[u] = ta[4 * u + 2]",
        (WINO + "test_fast_f4_transforms_equal_the_matrices",)),
    Bug("F(4x4) output transform writes a partial last tile column from the tile before it", "kernels/winograd.py",
        "yr[wo] = o[i, wo - 4 * full, base + full] + bk", "yr[wo] = o[i, wo - 4 * full, base + full - 1] + bk",
        (WINO + "test_partial_edge_tiles",)),
    Bug("auto takes Winograd at the pixel threshold's edge the wrong way (<= for <)", "minircan/backends.py",
        "x_shape[2] * x_shape[3] < WINOGRAD_MIN_PIXELS", "x_shape[2] * x_shape[3] <= WINOGRAD_MIN_PIXELS",
        (WINO + "test_auto_picks_winograd_for_3x3_stride_1_with_enough_channels",)),
    # ----- elementwise kernels ---------------------------------------------------------------------------
    Bug("relu backward passes the gradient where the output is 0 (>= for >)", "kernels/relu.py",
        "dx[i] = g[i] if y[i] > zero else zero", "dx[i] = g[i] if y[i] >= zero else zero",
        (ELEM + "test_relu[float64]",)),
    Bug("relu forward turns NaN into 0 (x > 0 ? x : 0)", "kernels/relu.py",
        "y[i] = zero if x[i] < zero else x[i]", "y[i] = x[i] if x[i] > zero else zero",
        (ELEM + "test_relu_passes_nan_through_like_pytorch",)),
    Bug("sigmoid's two stable forms swapped", "kernels/sigmoid.py",
        "y[i] = r if x[i] >= 0 else e * r", "y[i] = e * r if x[i] >= 0 else r",
        (ELEM + "test_sigmoid[float64]",)),
    Bug("sigmoid backward forgets the (1 - y) factor", "kernels/sigmoid.py",
        "dx[i] = g[i] * y[i] * (one - y[i])", "dx[i] = g[i] * y[i]",
        (ELEM + "test_sigmoid[float64]",)),
    Bug("average pool backward forgets 1/(H W)", "kernels/avg_pool.py",
        "v = g[p] / L", "v = g[p]", (ELEM + "test_global_avg_pool[float64]",)),
    Bug("pixel shuffle reads the sub-pixel channels in (j, i) order", "kernels/pixel_shuffle.py",
        "src = c * r * r + i * r + j", "src = c * r * r + j * r + i",
        (ELEM + "test_pixel_shuffle_layout_by_hand",)),
    # ----- the engine ------------------------------------------------------------------------------------
    Bug("backward overwrites a node's gradient when a second use arrives (fan-out)", "minircan/autograd.py",
        "grads[parent] = grads[parent] + pg", "grads[parent] = pg",
        (AUTO + "test_fan_out_at_an_intermediate_node",)),
    Bug("topological order emits a node when first seen (pre-order), not after its inputs",
        "minircan/autograd.py",
        "        if children_done:\n            order.append(node)\n            continue\n"
        "        if id(node) in visited:\n            continue\n        visited.add(id(node))\n",
        "        if children_done:\n            continue\n"
        "        if id(node) in visited:\n            continue\n        visited.add(id(node))\n"
        "        order.insert(0, node)\n",
        (AUTO + "test_topological_order_of_a_long_diamond",)),
    Bug("no_grad's exit turns gradients on instead of restoring the previous mode", "minircan/autograd.py",
        "        _grad_enabled = self.previous\n", "        _grad_enabled = True\n",
        (AUTO + "test_grad_mode_is_restored_by_nested_blocks_and_exceptions",)),
    Bug("no_grad swallows exceptions raised inside the block", "minircan/autograd.py",
        "        # END SOLUTION\n        return False\n", "        # END SOLUTION\n        return True\n",
        (AUTO + "test_grad_mode_is_restored_by_nested_blocks_and_exceptions",)),
    Bug("broadcast gradient summed without keepdims over stretched axes", "minircan/ops/arithmetic.py",
        "grad = grad.sum(axis=stretched, keepdims=True)", "grad = grad.sum(axis=stretched)",
        (AUTO + "test_broadcast_gradient_over_middle_and_leading_axes",)),
    Bug("mean's gradient not divided by the count", "minircan/ops/arithmetic.py",
        "_expand_back(ctx.xp, g / ctx.count,", "_expand_back(ctx.xp, g,",
        (AUTO + "test_arithmetic_matches_torch[mean]",)),
    # ----- optimisers and schedules ----------------------------------------------------------------------
    Bug("Adam without the first moment's bias correction", "minircan/optim/adam.py",
        'step_size = group["lr"] / (1 - b1**t)', 'step_size = group["lr"]',
        (OPTIM + "test_optimizer_matches_torch_for_20_steps[adam]",)),
    Bug("Adam adds eps before the second moment's bias correction", "minircan/optim/adam.py",
        'denom = xp.sqrt(v) / math.sqrt(1 - b2**t) + group["eps"]',
        'denom = (xp.sqrt(v) + group["eps"]) / math.sqrt(1 - b2**t)',
        (OPTIM + "test_optimizer_matches_torch_for_20_steps[adam_paper]",)),
    Bug("SGD momentum buffer not decayed", "minircan/optim/sgd.py",
        "                buf *= momentum\n", "",
        (OPTIM + "test_optimizer_matches_torch_for_20_steps[sgd_momentum_wd]",)),
    Bug("StepLR decays one step early", "minircan/optim/lr_scheduler.py",
        "self.gamma ** (self.last_epoch // self.step_size)", "self.gamma ** ((self.last_epoch + 1) // self.step_size)",
        (OPTIM + "test_step_lr_matches_torch",)),
    Bug("cosine schedule over half a period too few (pi t / (2 T))", "minircan/optim/lr_scheduler.py",
        "math.cos(math.pi * t / self.T_max)", "math.cos(math.pi * t / (2 * self.T_max))",
        (OPTIM + "test_cosine_schedule_matches_torch",)),
    # ----- data ----------------------------------------------------------------------------------------
    Bug("HR patch taken at the LR column offset (scale missing)", "minircan/data/patches.py",
        "hr = pair.hr[s * iy:s * (iy + p), s * ix:s * (ix + p)]", "hr = pair.hr[s * iy:s * (iy + p), ix:ix + s * p]",
        ("tests/test_data.py::test_hr_patch_is_the_crop_under_the_lr_patch",)),
    Bug("augmentation flips the HR patch along the other axis", "minircan/data/patches.py",
        "lr, hr = lr[:, ::-1], hr[:, ::-1]", "lr, hr = lr[:, ::-1], hr[::-1]",
        ("tests/test_data.py::test_hr_patch_is_the_crop_under_the_lr_patch[True]",)),
    Bug("imresize without antialiasing when downscaling (kernel width 4)", "minircan/data/imresize.py",
        "        width = 4.0 / scale\n", "        width = 4.0\n",
        ("tests/test_data.py::test_x2_downscale_weights_are_the_official_ones",)),
    Bug("imresize's pixel centres off by half a pixel", "minircan/data/imresize.py",
        "    u = i / scale + 0.5 * (1 - 1 / scale)\n    left", "    u = i / scale + 0.5 * (1 - scale)\n    left",
        ("tests/test_data.py::test_x2_downscale_weights_are_the_official_ones",)),
    # ----- metrics and evaluation ------------------------------------------------------------------------
    Bug("rgb -> Y with the R and B coefficients swapped", "minircan/metrics.py",
        "Y_WEIGHTS = np.array([65.481, 128.553, 24.966])", "Y_WEIGHTS = np.array([24.966, 128.553, 65.481])",
        ("tests/test_metrics.py::test_y_of_pure_colours",)),
    Bug("metrics shave the border from the top and left only", "minircan/metrics.py",
        "crop = (slice(border, h - border), slice(border, w - border))", "crop = (slice(border, h), slice(border, w))",
        ("tests/test_metrics.py::test_border_cropping",)),
    Bug("SSIM's C2 not squared", "minircan/metrics.py",
        "SSIM_C2 = (0.03 * 255) ** 2", "SSIM_C2 = 0.03 * 255",
        ("tests/test_evaluate_values.py::test_evaluate_bicubic_prints_the_protocols_values",)),
    Bug("SSIM window's sigma 1.0 instead of 1.5", "minircan/metrics.py",
        "SSIM_SIGMA = 1.5", "SSIM_SIGMA = 1.0",
        ("tests/test_evaluate_values.py::test_evaluate_bicubic_prints_the_protocols_values",)),
    Bug("evaluate shaves scale + 6 pixels for PSNR", "minircan/evaluate.py",
        "psnr=psnr(sr, pair.hr, scale)", "psnr=psnr(sr, pair.hr, scale + 6)",
        ("tests/test_evaluate_values.py::test_evaluate_bicubic_prints_the_protocols_values",)),
    # ----- checkpoints, state dicts, .pt files, training, inference ----------------------------------------
    Bug("checkpoint written in place (no temporary file, so no atomic rename)", "minircan/checkpoint.py",
        'fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=directory)',
        "fd, tmp = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), path",
        ("tests/test_checkpoint.py::test_a_save_interrupted_while_writing_keeps_the_old_file",)),
    Bug("checkpoint renamed without fsync", "minircan/checkpoint.py",
        "            os.fsync(f.fileno())\n", "",
        ("tests/test_checkpoint.py::test_save_syncs_the_new_file_before_renaming_it_over_the_old",)),
    Bug("load_state_dict compares element counts, not shapes", "minircan/nn/module.py",
        "if tuple(value.shape) != p.shape:", "if value.size != p.numel():",
        ("tests/test_nn.py::test_load_state_dict_refuses_the_same_number_of_elements_in_another_shape",)),
    Bug(".pt reader (without torch) ignores the stored strides", "minircan/pt_format.py",
        "    return np.lib.stride_tricks.as_strided(storage[offset:], shape=tuple(size),\n"
        "                                           strides=tuple(s * item for s in stride))\n",
        "    return storage[offset:offset + int(np.prod(size))].reshape(tuple(size))\n",
        ("tests/test_pt_format.py::test_strided_and_shared_storages_read_exactly",)),
    Bug(".pt reader (with torch) returns views of shared storages", "minircan/pt_format.py",
        "        return _own(_tensors_to_numpy(obj))", "        return _tensors_to_numpy(obj)",
        ("tests/test_pt_format.py::test_strided_and_shared_storages_read_exactly",)),
    Bug("the NaN guard runs after backward() and step()", "minircan/train.py",
        "        value = loss.item()\n        if not math.isfinite(value):\n"
        '            raise TrainingError(f"the loss became {value} at step {self.step + 1}; the last good '
        'checkpoint is "\n                                "kept. Lower --lr, or check the data")\n'
        "        loss.backward()\n        self.optimizer.step()\n",
        "        value = loss.item()\n        loss.backward()\n        self.optimizer.step()\n"
        "        if not math.isfinite(value):\n"
        '            raise TrainingError(f"the loss became {value} at step {self.step + 1}; the last good '
        'checkpoint is "\n                                "kept. Lower --lr, or check the data")\n',
        ("tests/test_train_guard.py::test_a_nan_batch_changes_nothing",)),
    Bug("inference records a graph (no_grad dropped)", "minircan/inference.py",
        "    with no_grad():\n        out = model(", "    if True:\n        out = model(",
        ("tests/test_inference_no_graph.py::test_inference_records_no_graph",)),
]


# ----- running the checks ------------------------------------------------------------------------------


def _copy_checkout(src: Path, dst: Path) -> None:
    """minircan/, kernels/, tests/ and pyproject.toml of src into dst, modification times kept (copy2), so
    that Numba's caches in kernels/__pycache__ stay valid for every file left unpatched."""
    for name in ("minircan", "kernels", "tests"):
        shutil.copytree(src / name, dst / name, ignore=shutil.ignore_patterns(".pytest_cache", "*.ipynb"))
    shutil.copy2(src / "pyproject.toml", dst / "pyproject.toml")


def _plant(copy: Path, bug: Bug) -> None:
    path = copy / bug.path
    text = path.read_text(encoding="utf-8")
    count = text.count(bug.old)
    if count != 1:
        raise AssertionError(f"planted bug {bug.name!r}: the text to replace occurs {count} times in {bug.path} "
                             f"(expected once; was the code refactored? update the bug): {bug.old!r}")
    path.write_text(text.replace(bug.old, bug.new), encoding="utf-8")


# A fork server: a Python that has already imported what every check imports (PyTorch, NumPy, Numba,
# Hypothesis, pytest and its plugins: about 5 CPU-seconds, which a fresh interpreter per bug would pay again
# for every bug) and forks one child per run. The child changes into the copy, puts it first on sys.path
# and runs pytest.main there: minircan itself is never imported by the server, so each child imports the
# copy's (patched) minircan. One server per worker; each runs its jobs one after another.
_SERVER = r"""
import os, sys, json
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")  # what minircan sets before NumPy loads
import numpy, numba, numba.np.ufunc.parallel, torch, hypothesis, PIL.Image, pytest, _pytest.python
from importlib.metadata import entry_points
for ep in entry_points(group="pytest11"):
    try:
        ep.load()
    except Exception:
        pass
assert not any(m == "minircan" or m.startswith("minircan.") for m in sys.modules)
print("ready", flush=True)
for line in sys.stdin:
    job = json.loads(line)
    pid = os.fork()
    if pid == 0:
        fd = os.open(job["out"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.chdir(job["copy"])
        sys.path[:0] = [job["copy"]]
        try:
            rc = int(pytest.main(job["checks"] + ["-x", "-q", "-p", "no:cacheprovider"]))
        except BaseException as e:
            print(f"the run raised {e!r}", flush=True)
            rc = 3
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(rc)
    _, status = os.waitpid(pid, 0)
    print(json.dumps(os.waitstatus_to_exitcode(status)), flush=True)
"""


class _Server:
    """One fork server (see _SERVER): run(copy, checks) -> (exit status, output, seconds)."""

    def __init__(self, workdir: Path):
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
        env.pop("NUMBA_CACHE_DIR", None)  # Numba caches beside the copied sources (copied warm)
        env[_CHILD] = "1"
        self.proc = subprocess.Popen([sys.executable, "-c", _SERVER], cwd=workdir, env=env, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        ready = self.proc.stdout.readline()
        assert ready.strip() == "ready", f"the planted-bug server did not start: {ready!r}"

    def run(self, copy: Path, checks: tuple[str, ...]) -> tuple[int, str, float]:
        out = copy.parent / f"{copy.name}.log"
        t0 = time.perf_counter()
        self.proc.stdin.write(json.dumps(dict(copy=str(copy), checks=list(checks), out=str(out))) + "\n")
        self.proc.stdin.flush()
        status = json.loads(self.proc.stdout.readline())
        return status, out.read_text(errors="replace"), time.perf_counter() - t0

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


ALL_CHECKS = tuple(dict.fromkeys(c for bug in BUGS for c in bug.checks))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    if os.environ.get(_CHILD):
        pytest.skip("inside a planted-bug run")
    return tmp_path_factory.mktemp("planted")


@pytest.fixture(scope="module")
def servers(workdir):
    started = [_Server(workdir) for _ in range(WORKERS)]
    yield started
    for server in started:
        server.close()


@pytest.fixture(scope="module")
def pristine(workdir, servers):
    """The unpatched copy, its checks run once (which also compiles its Numba kernels for the copies)."""
    copy = workdir / "pristine"
    _copy_checkout(ROOT, copy)
    result = servers[0].run(copy, ALL_CHECKS)
    (workdir / "pristine-seconds.txt").write_text(f"{result[2]:.1f}\n")
    return result


@pytest.fixture(scope="module")
def outcomes(request, workdir, servers, pristine):
    """{bug name: (exit status, output, seconds)} for the bugs selected in this session, two at a time."""
    wanted = {item.callspec.params["bug"].name for item in request.session.items
              if item.originalname == "test_planted_bug_is_caught" and hasattr(item, "callspec")}
    jobs = [(i, bug) for i, bug in enumerate(BUGS) if bug.name in wanted]
    results = {}

    def worker(server, share):
        for i, bug in share:
            copy = workdir / f"bug{i:02d}"
            _copy_checkout(workdir / "pristine", copy)
            try:
                _plant(copy, bug)
            except AssertionError as e:
                results[bug.name] = (None, str(e), 0.0)
                continue
            results[bug.name] = server.run(copy, bug.checks)
            shutil.rmtree(copy, ignore_errors=True)

    with ThreadPoolExecutor(WORKERS) as pool:
        for f in [pool.submit(worker, servers[k], jobs[k::WORKERS]) for k in range(WORKERS)]:
            f.result()
    (workdir / "seconds.txt").write_text("".join(f"{r[2]:7.1f}  {name}\n" for name, r in results.items()))
    return results


def test_bug_list_is_well_formed():
    names = [b.name for b in BUGS]
    assert len(names) == len(set(names)) and len(BUGS) >= 25
    for bug in BUGS:
        assert bug.old != bug.new and bug.checks and (ROOT / bug.path).is_file(), bug.name
        assert (ROOT / bug.path).read_text(encoding="utf-8").count(bug.old) == 1, \
            f"{bug.name}: the text to plant is not found exactly once in {bug.path}"
        for check in bug.checks:
            assert (ROOT / check.split("::")[0]).is_file(), f"{bug.name}: no test file {check}"


def test_targeted_checks_pass_on_the_unpatched_copy(pristine):
    status, output, seconds = pristine
    assert status == 0, f"the targeted checks fail without any bug ({seconds:.0f} s):\n{output[-4000:]}"


@pytest.mark.parametrize("bug", BUGS, ids=[b.name for b in BUGS])
def test_planted_bug_is_caught(bug, outcomes, pristine):
    assert pristine[0] == 0, "the unpatched copy fails its checks: see test_targeted_checks_pass_on_the_unpatched_copy"
    status, output, seconds = outcomes[bug.name]
    assert status is not None, output
    assert status == 1, (f"planted bug {bug.name!r} in {bug.path} was not caught by {', '.join(bug.checks)} "
                         f"(pytest exit status {status}, {seconds:.0f} s; 1 = a test failed):\n{output[-3000:]}")
