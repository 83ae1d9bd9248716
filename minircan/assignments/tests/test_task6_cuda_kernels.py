"""Task 6: CUDA kernels (kernels/sigmoid.cu, kernels/conv2d.cu, kernels/avg_pool.cu, kernels/block_reduce.cuh):
sigmoid forward and backward, the naive conv2d forward (one thread per output element), and a block
reduction in shared memory: block_sum (a tree with __syncthreads() between its levels) and the global
average pooling that feeds it (a stride loop over each plane's pixels, one block of 256 threads a plane).

Without a GPU the kernels run on the CPU emulator (kernels/emulator.py): the same .cu files, compiled by
the host C++ compiler, launched with the same grid and block sizes. The emulator fills fresh outputs with
NaN, so an element your kernel never writes shows up as NaN, and it refuses writes out of bounds.
"""

import numpy as np
import pytest
from checks import check_close, describe_conv, references, stride_padding

pytestmark = pytest.mark.task("6")


@pytest.fixture(scope="module")
def kernels():
    from minircan.kernels.cuda import CudaKernels
    from minircan.kernels.emulator import EmulatorRuntime

    return CudaKernels(EmulatorRuntime())


def cases(op):
    return [c for c in references("6") if str(c["op"]) == op]


def test_sigmoid_forward(kernels):
    for c in cases("sigmoid"):
        check_close(kernels.sigmoid_forward(c["x"]), c["y"],
                    f"CUDA sigmoid_forward, {c['x'].size} elements of {c['x'].dtype} (extremes +-1000 included)")


def test_sigmoid_backward(kernels):
    for c in cases("sigmoid"):
        check_close(kernels.sigmoid_backward(c["g"], c["y"]), c["dx"],
                    f"CUDA sigmoid_backward, {c['x'].size} elements of {c['x'].dtype}")


def test_sigmoid_handles_a_size_that_is_not_a_multiple_of_the_block(kernels):
    x = np.linspace(-5, 5, 257)  # one block of 256 threads and one more element
    y = kernels.sigmoid_forward(x)
    check_close(y, 1 / (1 + np.exp(-x)), "CUDA sigmoid_forward of 257 elements (two blocks, the last one mostly idle)")


def test_conv2d_forward_naive(kernels):
    for c in cases("conv2d"):
        stride, padding = stride_padding(c)
        y = kernels.conv2d_forward_naive(c["x"], c["w"], c.get("b"), stride, padding)
        check_close(y, c["y"], f"CUDA conv2d_forward_naive, {describe_conv(c)}")


def test_avg_pool_forward_reduces_each_plane_in_a_block(kernels):
    for c in cases("avg_pool"):
        n, ch, h, w = c["x"].shape
        check_close(kernels.avg_pool_forward(c["x"]), c["y"],
                    f"CUDA avg_pool_forward, x {c['x'].shape} {c['x'].dtype}: planes of {h * w} pixels, one block of "
                    "256 threads each (your stride loop, then block_sum)")


def test_block_sum_in_the_bias_gradient(kernels):
    """conv2d's bias gradient sums each channel's N Ho Wo values with the same block_sum."""
    for c in cases("bias"):
        n, k, ho, wo = c["g"].shape
        check_close(kernels.conv2d_backward_bias(c["g"]), c["db"],
                    f"CUDA conv2d_backward_bias, g {c['g'].shape}: block_sum over {n * ho * wo} values a channel")
