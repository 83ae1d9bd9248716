"""The GPU backend on a real GPU (``pytest -m gpu``): every CUDA kernel through CuPy against PyTorch and the
Numba kernels (the checks the emulator tests run on the CPU, tests/cuda_checks.py), determinism run to run,
and a few training steps of the tiny RCAN on the GPU against the same steps on the CPU. Skipped, with the
reason, where minircan.cuda.is_available() is False."""

import subprocess
import sys

import numpy as np
import pytest
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
)

import minircan
from minircan.device import to_numpy

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not minircan.cuda.is_available(), reason=str(minircan.cuda.unavailable_reason())),
]

DTYPES = [np.float64, np.float32]


@pytest.fixture(scope="module")
def gpu():
    import cupy

    from minircan.kernels.cuda import CudaKernels
    from minircan.kernels.cupy_runtime import CupyRuntime

    return CudaKernels(CupyRuntime()), cupy.asarray, cupy.asnumpy


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fast", [True, False], ids=["fast", "naive"])
@pytest.mark.parametrize("case", CONV_CASES + [(16, 64, 48, 48, 64, 3, 3, (1, 1), (1, 1))],
                         ids=[str(c[:7]) for c in CONV_CASES] + ["paper-layer"])
def test_conv2d(gpu, case, fast, dtype):
    check_conv2d(*gpu, case, dtype, fast=fast)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", ELEMENTWISE_SHAPES + [(16, 64, 48, 48)])
def test_elementwise_pooling_shuffle(gpu, shape, dtype):
    check_relu_sigmoid(*gpu, shape, dtype)
    check_avg_pool(*gpu, shape, dtype)
    check_pixel_shuffle(*gpu, shape, 2, dtype)
    check_sigmoid_extremes(*gpu, dtype)
    check_relu_nan(*gpu, dtype)


def test_kernels_are_deterministic(gpu):
    kernels, put, get = gpu
    x, w, b, g, s, p = (put(a) if isinstance(a, np.ndarray) else a
                        for a in conv_data((16, 64, 48, 48, 64, 3, 3, (1, 1), (1, 1)), np.float32))
    for fn in (lambda: kernels.conv2d_forward(x, w, b, s, p),
               lambda: kernels.conv2d_backward_input(g, w, x.shape, s, p),
               lambda: kernels.conv2d_backward_weight(g, x, w.shape, s, p),
               lambda: kernels.conv2d_backward_bias(g),
               lambda: kernels.avg_pool_forward(x)):
        first = get(fn())
        for _ in range(3):
            assert np.array_equal(get(fn()), first)


def test_tensors_move_between_devices_and_refuse_to_mix():
    a = minircan.tensor(np.arange(6.0).reshape(2, 3))
    b = a.to("cuda")
    assert b.device.name == "cuda" and type(b.data).__module__.startswith("cupy")
    assert np.array_equal(b.to("cpu").numpy(), a.numpy())
    with pytest.raises(ValueError, match="different devices"):
        _ = a + b
    host = to_numpy(b.data)  # the one way to bring an array to the host
    assert type(host) is np.ndarray and np.array_equal(host, a.numpy())


def test_tiny_rcan_training_steps_match_the_cpu():
    results = {}
    for name in ("cpu", "cuda"):
        dev = minircan.device(name)
        minircan.manual_seed(0)
        model = minircan.models.RCAN.from_config("tiny", scale=2).to(dev)
        opt = minircan.optim.Adam(model.parameters(), lr=1e-3)
        rng = np.random.default_rng(0)
        losses = []
        for _ in range(5):
            lr_patch = rng.uniform(0, 255, (4, 3, 24, 24)).astype(np.float32)
            hr_patch = rng.uniform(0, 255, (4, 3, 48, 48)).astype(np.float32)
            opt.zero_grad()
            loss = minircan.functional.l1_loss(model(minircan.tensor(lr_patch, device=dev)),
                                               minircan.tensor(hr_patch, device=dev))
            loss.backward()
            opt.step()
            losses.append(loss.item())
        results[name] = losses
    np.testing.assert_allclose(results["cuda"], results["cpu"], rtol=1e-4)


def test_train_command_runs_on_the_gpu(tmp_path):
    for module in ("PIL", "tqdm", "matplotlib"):
        pytest.importorskip(module)
    run = subprocess.run([sys.executable, "-m", "minircan.train", "--tiny", "--steps", "20", "--eval-every", "10",
                          "--device", "cuda", "--out", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
