"""The CUDA kernels (kernels/*.cu) run on the CPU emulator (kernels/emulator.py, kernels/cuda_emu.h) against
PyTorch and the Numba kernels; the emulator itself (barriers, shared memory, bounds and argument checks);
planted bugs that the emulator must catch; and nvcc's compile check where nvcc exists."""

import os
import re
import shutil
import subprocess

import numpy as np
import pytest
from conftest import assert_close
from cuda_checks import (
    CONV_CASES,
    ELEMENTWISE_SHAPES,
    check_avg_pool,
    check_conv2d,
    check_pixel_shuffle,
    check_relu_nan,
    check_relu_sigmoid,
    check_sigmoid_extremes,
    conv_data,
    conv_kernels,
    torch_conv,
)
from hypothesis import given
from hypothesis import strategies as st
from test_kernels_conv2d import _data as conv_sweep_data
from test_kernels_conv2d import conv_cases
from test_kernels_elementwise import shapes4

import minircan
from minircan.kernels import cu_source
from minircan.kernels.cuda import CudaKernels, weight_grad_splits
from minircan.kernels.emulator import EmulatorError, EmulatorRuntime

DTYPES = [np.float64, np.float32]


def same(a):
    return a


@pytest.fixture(scope="module")
def kernels():
    return CudaKernels(EmulatorRuntime())


# ----- the kernels ------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fast", [True, False], ids=["fast", "naive"])
@pytest.mark.parametrize("case", CONV_CASES, ids=[str(c[:7]) for c in CONV_CASES])
def test_conv2d(kernels, case, fast, dtype):
    check_conv2d(kernels, same, same, case, dtype, fast=fast)


def test_conv2d_cases_cover_the_split_weight_gradient_and_several_tiles():
    splits = [weight_grad_splits(k, c * kh * kw, n * h * w) for n, c, h, w, k, kh, kw, _, _ in CONV_CASES]
    assert max(splits) > 1 and min(splits) == 1
    assert any(k > 64 and c > 64 for n, c, h, w, k, *_ in CONV_CASES)  # two tiles of rows in every product


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", ELEMENTWISE_SHAPES)
def test_relu_sigmoid(kernels, shape, dtype):
    check_relu_sigmoid(kernels, same, same, shape, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_is_stable_and_relu_passes_nan(kernels, dtype):
    check_sigmoid_extremes(kernels, same, same, dtype)
    check_relu_nan(kernels, same, same, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", ELEMENTWISE_SHAPES + [(2, 3, 23, 29)])  # 667 pixels: more than one per thread
def test_avg_pool(kernels, shape, dtype):
    check_avg_pool(kernels, same, same, shape, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("r", [1, 2, 3])
def test_pixel_shuffle(kernels, r, dtype):
    check_pixel_shuffle(kernels, same, same, (2, 3, 5, 4), r, dtype)


def test_kernels_refuse_other_dtypes(kernels):
    with pytest.raises(TypeError, match="float32 or float64"):
        kernels.relu_forward(np.ones(3, dtype=np.float16))


# ----- the whole model through the CUDA kernels --------------------------------------------------------


def test_tiny_rcan_through_the_cuda_kernels_matches_the_cpu(kernels):
    """A Device whose kernel table is the CUDA one (run by the emulator, arrays in NumPy): the ops, modules
    and optimiser use it as they would use a GPU's, and must give what the CPU gives."""
    emulated = minircan.Device("cuda", np, kernels)
    results = []
    for dev in (minircan.device("cpu"), emulated):
        minircan.manual_seed(0)
        model = minircan.models.RCAN.from_config("tiny", scale=2).double().to(dev)
        rng = np.random.default_rng(1)
        x = minircan.tensor(rng.uniform(0, 255, (1, 3, 9, 11)), device=dev)
        hr = minircan.tensor(rng.uniform(0, 255, (1, 3, 18, 22)), device=dev)
        opt = minircan.optim.Adam(model.parameters(), lr=1e-3)
        losses = []
        for _ in range(2):
            opt.zero_grad()
            loss = minircan.functional.l1_loss(model(x), hr)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        results.append((losses, [p.grad.numpy() for p in model.parameters() if p.requires_grad]))
    (cpu_losses, cpu_grads), (gpu_losses, gpu_grads) = results
    np.testing.assert_allclose(gpu_losses, cpu_losses, rtol=1e-12)
    for a, b in zip(gpu_grads, cpu_grads):
        assert_close(a, b, np.float64, "parameter gradient")


# ----- the emulator ------------------------------------------------------------------------------------

REVERSE = r"""
// Reverses each block's slice of x through shared memory: thread t writes slot t, reads slot n - 1 - t.
extern "C" __global__ void reverse_blocks(const float* x, float* y, int n) {
    __shared__ float slot[64];
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    slot[threadIdx.x] = i < n ? x[i] : 0.0f;
    __syncthreads();
    if (i < n) y[i] = slot[blockDim.x - 1 - threadIdx.x];
}
extern "C" __global__ void early_return(float* y, int n) {
    __shared__ float slot[64];
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;  // a bug: the threads past n never reach the barrier
    slot[threadIdx.x] = 1.0f;
    __syncthreads();
    y[i] = slot[0];
}
extern "C" __global__ void two_barriers(float* y, int n) {
    if (threadIdx.x % 2 == 0) {
        __syncthreads();
    } else {
        __syncthreads();  // another barrier: on a GPU, a deadlock or garbage
    }
    y[threadIdx.x] = 0.0f;
}
extern "C" __global__ void index_map(float* y, int n) {
    int i = (blockIdx.z * gridDim.y + blockIdx.y) * gridDim.x + blockIdx.x;
    int t = (threadIdx.z * blockDim.y + threadIdx.y) * blockDim.x + threadIdx.x;
    y[i * blockDim.x * blockDim.y * blockDim.z + t] = 1000.0f * i + t;
}
"""


@pytest.fixture(scope="module")
def toy():
    return EmulatorRuntime({"toy.cu": REVERSE})


def test_shared_memory_and_barrier(toy):
    x = np.arange(100, dtype=np.float32)
    y = toy.empty(x.shape, x.dtype)
    toy.launch("toy.cu", "reverse_blocks", (2,), (64,), (x, y, np.int32(100)))
    assert np.array_equal(y[:64], x[:64][::-1])
    # block 1 holds x[64:100] in slots 0..35 and zeros in 36..63; its thread t (i = 64 + t) reads slot 63 - t
    slots = np.concatenate([x[64:], np.zeros(28, np.float32)])
    assert np.array_equal(y[64:], slots[63 - np.arange(36)])


def test_thread_and_block_indices_in_three_dimensions(toy):
    y = toy.empty((3 * 2 * 2, 4 * 2 * 1), np.float32)
    toy.launch("toy.cu", "index_map", (3, 2, 2), (4, 2, 1), (y, np.int32(y.size)))
    expected = 1000.0 * np.arange(12)[:, None] + np.arange(8)[None, :]
    assert np.array_equal(y, expected)


def test_a_return_before_a_barrier_is_reported(toy):
    y = toy.empty(100, np.float32)
    with pytest.raises(EmulatorError, match="has returned without reaching it"):
        toy.launch("toy.cu", "early_return", (2,), (64,), (y, np.int32(100)))


def test_threads_at_different_barriers_are_reported(toy):
    y = toy.empty(8, np.float32)
    with pytest.raises(EmulatorError, match="every thread of a block must reach the same barriers"):
        toy.launch("toy.cu", "two_barriers", (1,), (8,), (y, np.int32(8)))


def test_arguments_are_checked_against_the_kernel_signature(toy):
    x = np.zeros(4, np.float32)
    with pytest.raises(EmulatorError, match="takes int, got long long"):
        toy.launch("toy.cu", "reverse_blocks", (1,), (4,), (x, x, np.int64(4)))
    with pytest.raises(EmulatorError, match="takes const float\\*, got an array of float64"):
        toy.launch("toy.cu", "reverse_blocks", (1,), (4,), (x.astype(np.float64), x, np.int32(4)))
    with pytest.raises(EmulatorError, match="explicit type"):
        toy.launch("toy.cu", "reverse_blocks", (1,), (4,), (x, x, 4))
    with pytest.raises(EmulatorError, match="takes 3 arguments"):
        toy.launch("toy.cu", "reverse_blocks", (1,), (4,), (x, x))
    with pytest.raises(EmulatorError, match="no kernel 'missing'"):
        toy.launch("toy.cu", "missing", (1,), (4,), (x,))
    with pytest.raises(EmulatorError, match="CUDA allows 1 to 1024"):
        toy.launch("toy.cu", "reverse_blocks", (1,), (2048,), (x, x, np.int32(4)))


def test_fresh_outputs_are_nan_so_unwritten_elements_show(toy):
    assert np.isnan(toy.empty((2, 3), np.float32)).all()


def test_compile_errors_name_the_file_and_line():
    bad = EmulatorRuntime({"broken.cu": 'extern "C" __global__ void k(float* y) {\n  y[0] = undefined_name;\n}\n'})
    with pytest.raises(EmulatorError, match=r"broken\.cu:2"):
        bad.launch("broken.cu", "k", (1,), (1,), (np.zeros(1, np.float32),))


# ----- planted bugs: the emulator must catch each ---------------------------------------------------------

SYNC_AFTER_LOAD = "__syncthreads();  // the slices are complete before anyone reads them"
SYNC_BEFORE_NEXT = "__syncthreads();  // everyone is done with the slices before the next step overwrites them"


def _source(name: str) -> str:
    with open(cu_source.path(name), encoding="utf-8") as f:
        return f.read()


def _planted(name: str, old: str, new: str) -> CudaKernels:
    text = _source(name)
    assert text.count(old) == 1, f"the line to plant the bug in is no longer in {name}: {old!r}"
    return CudaKernels(EmulatorRuntime({name: text.replace(old, new)}))


@pytest.mark.parametrize("barrier", [SYNC_AFTER_LOAD, SYNC_BEFORE_NEXT], ids=["after-load", "before-next-load"])
def test_a_missing_syncthreads_in_the_tiled_conv_makes_it_wrong(barrier):
    """Either barrier of gemm_tiled removed: threads read a shared tile that is not complete yet, or one
    already overwritten by the next step; the result is wrong, and the same check that passes the real
    kernel (test_conv2d) fails."""
    broken = _planted("conv2d.cu", barrier, "")
    x, w, b, g, s, p = conv_data(CONV_CASES[0], np.float64)
    y_ref = torch_conv(x, w, b, g, s, p)[0]
    with pytest.raises(AssertionError, match="relative error"):
        assert_close(broken.conv2d_forward(x, w, b, s, p), y_ref, np.float64, "forward")
    with pytest.raises(AssertionError, match="relative error"):
        check_conv2d(broken, same, same, CONV_CASES[0], np.float64)


def test_an_off_by_one_bounds_guard_is_caught():
    broken = _planted("relu.cu", "if (i < n) y[i]", "if (i <= n) y[i]")
    with pytest.raises(EmulatorError, match="wrote outside argument 1"):
        broken.relu_forward(np.random.default_rng(0).standard_normal(300))


def test_a_bounds_guard_that_returns_before_a_barrier_is_caught():
    broken = _planted("avg_pool.cu", "if (p >= planes) return;", "if (threadIdx.x >= L) return;")
    with pytest.raises(EmulatorError, match="returned without reaching it"):
        broken.avg_pool_forward(np.ones((1, 2, 3, 3)))


def test_a_kernel_that_skips_elements_leaves_nan():
    line = "y[i] = v >= T(0) ? r : e * r;"
    broken = _planted("sigmoid.cu", line, "if (i % 7 != 3) " + line)
    y = broken.sigmoid_forward(np.linspace(-3, 3, 50))
    assert np.isnan(y).sum() == 7


# ----- nvcc compile check -----------------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc is not installed")
@pytest.mark.parametrize("arch", ["sm_75", "sm_90"])
@pytest.mark.parametrize("source", cu_source.SOURCES)
def test_nvcc_compiles_what_nvrtc_will_compile(source, arch, tmp_path):
    """The exact text CuPy hands to NVRTC (includes inlined), compiled to PTX by nvcc."""
    src = tmp_path / source
    src.write_text(cu_source.read(source))
    out = tmp_path / f"{source}.{arch}.ptx"
    run = subprocess.run(["nvcc", "-ptx", f"-arch={arch}", str(src), "-o", str(out)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    ptx = out.read_text()
    for name in cu_source.kernel_names(cu_source.read(source)):
        assert f".entry {name}(" in ptx, f"{name} is missing from the PTX"


def test_every_source_is_listed_and_every_launch_names_a_real_kernel():
    here = os.path.dirname(cu_source.path("x"))
    assert sorted(f for f in os.listdir(here) if f.endswith(".cu")) == sorted(cu_source.SOURCES)
    names = {n for s in cu_source.SOURCES for n in cu_source.kernel_names(cu_source.read(s))}
    with open(os.path.join(here, "cuda.py"), encoding="utf-8") as f:
        launcher = f.read()
    launched = set(re.findall(r'"(\w+\.cu)", "(\w+)"', launcher))
    assert launched, "no launches found in kernels/cuda.py"
    for source, name in launched:
        assert f"{name}_f32" in names and f"{name}_f64" in names, f"{source} lacks {name}_f32/_f64"


def test_operands_on_different_devices_are_refused(kernels):
    emulated = minircan.Device("cuda", np, kernels)
    a = minircan.tensor(np.ones((2, 3)))
    b = minircan.tensor(np.ones((2, 3)), device=emulated)
    with pytest.raises(ValueError, match="different devices"):
        _ = a + b
    with pytest.raises(ValueError, match="different devices"):
        _ = b * np.ones((2, 3))  # a host array is not copied over silently
    assert np.array_equal((b * 2.0).numpy(), 2 * np.ones((2, 3)))  # a number is fine
    with pytest.raises(ValueError, match="different devices"):
        minircan.functional.conv2d(minircan.tensor(np.ones((1, 1, 3, 3)), device=emulated),
                                   minircan.tensor(np.ones((1, 1, 1, 1))))


def test_the_benchmark_runs_every_kernel_case_through_the_cuda_table(kernels):
    """python -m minircan.bench --device cuda builds its cases from the device's kernel table; with the
    emulated table (tiny shapes) every case runs and gives what the CPU's gives. (Winograd is a CPU-only
    algorithm: its rows are the CPU's alone.)"""
    from minircan import bench

    emulated = minircan.Device("cuda", np, kernels)
    gpu_cases = bench.kernel_cases(1, 4, 5, dtype=np.float64, with_torch=False, device=emulated)
    cpu_cases = bench.kernel_cases(1, 4, 5, dtype=np.float64, with_torch=False, device="cpu")
    cpu_cases = [c for c in cpu_cases if "winograd" not in c.name]
    assert [c.name for c in gpu_cases] == [c.name for c in cpu_cases]
    for ours, ref in zip(gpu_cases, cpu_cases):
        a, b = ours.ours(), ref.ours()
        for u, v in zip(a if isinstance(a, tuple) else (a,), b if isinstance(b, tuple) else (b,)):
            assert_close(u, v, np.float64, ours.name)


# ----- the CPU tests' Hypothesis sweeps, through the CUDA kernels -------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@given(case=conv_cases())
def test_conv2d_over_the_cpu_tests_sweep(kernels, case, dtype):
    """The shapes, strides, paddings and non-contiguous inputs of tests/test_kernels_conv2d.py, against
    PyTorch, for the fast and the naive CUDA kernels."""
    x, w, b, g, s, p = conv_sweep_data(case, dtype)
    y, dx, dw, db = torch_conv(*(np.ascontiguousarray(a) for a in (x, w, b, g)), s, p)
    for fast in (True, False):
        what = "fast" if fast else "naive"
        forward, backward_input, backward_weight = conv_kernels(kernels, fast)
        assert_close(forward(x, w, b, s, p), y, dtype, f"{what} forward")
        assert_close(backward_input(g, w, x.shape, s, p), dx, dtype, f"{what} input grad")
        assert_close(backward_weight(g, x, w.shape, s, p), dw, dtype, f"{what} weight grad")
    assert_close(kernels.conv2d_backward_bias(g), db, dtype, "bias gradient")


@pytest.mark.parametrize("dtype", DTYPES)
@given(shape=shapes4, seed=st.integers(0, 2**31 - 1))
def test_elementwise_over_the_cpu_tests_sweep(kernels, shape, seed, dtype):
    check_relu_sigmoid(kernels, same, same, shape, dtype, seed)
    check_avg_pool(kernels, same, same, shape, dtype, seed)


def test_summary_and_inference_run_on_the_models_device(kernels):
    from minircan.inference import upscale_whole

    emulated = minircan.Device("cuda", np, kernels)
    model = minircan.models.RCAN.from_config("tiny", scale=2).to(emulated)
    assert model.summary((1, 3, 6, 6)).total_params == 36_299
    lr = np.random.default_rng(0).uniform(0, 255, (3, 6, 7)).astype(np.float32)
    cpu_model = minircan.models.RCAN.from_config("tiny", scale=2)
    cpu_model.load_state_dict(model.state_dict())
    assert_close(upscale_whole(model, lr), upscale_whole(cpu_model, lr), np.float32, "SR through the CUDA kernels")
