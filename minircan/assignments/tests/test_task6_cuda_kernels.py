"""Task 6: CUDA kernels (kernels/sigmoid.cu, kernels/conv2d.cu): sigmoid forward and backward, then the
simple conv2d forward (one thread per output element).

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


def test_conv2d_forward_simple(kernels):
    for c in cases("conv2d"):
        stride, padding = stride_padding(c)
        y = kernels.conv2d_forward_simple(c["x"], c["w"], c.get("b"), stride, padding)
        check_close(y, c["y"], f"CUDA conv2d_forward_simple, {describe_conv(c)}")
