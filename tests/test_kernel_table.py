"""The kernel table (kernels/table.py): both implementations, NumbaKernels (CPU) and CudaKernels (CUDA C),
have every kernel of the interface with its parameter names and defaults; ``has_winograd`` says truly
whether a table has the Winograd kernels; the ops call nothing outside the table; and an entry can be
replaced by name on an instance (what a profiler does)."""

import inspect
import re
from pathlib import Path

import numpy as np
import pytest

import minircan
import minircan.functional as F
from minircan.kernels.cpu import NumbaKernels
from minircan.kernels.cuda import CudaKernels
from minircan.kernels.emulator import EmulatorRuntime
from minircan.kernels.table import (
    KERNELS,
    WINOGRAD_KERNELS,
    KernelTable,
    WinogradKernelTable,
    kernel_names,
)

TABLES = [NumbaKernels, CudaKernels]
OPS = Path(minircan.__file__).parent / "ops"


def _parameters(fn) -> list[tuple]:
    return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]


def test_the_interface_lists_every_kernel_the_devices_use():
    assert KERNELS == (
        "conv2d_forward", "conv2d_backward_input", "conv2d_backward_params", "conv2d_backward_bias",
        "relu_forward", "relu_backward", "sigmoid_forward", "sigmoid_backward",
        "avg_pool_forward", "avg_pool_backward", "pixel_shuffle", "pixel_unshuffle")
    assert WINOGRAD_KERNELS == (
        "conv2d_winograd_forward", "conv2d_winograd_backward_input", "conv2d_winograd_backward_params")
    for name in KERNELS + WINOGRAD_KERNELS:
        doc = getattr(WinogradKernelTable, name).__doc__
        assert doc and doc.strip(), f"KernelTable.{name} has no docstring (its shapes)"


@pytest.mark.parametrize("table", TABLES, ids=lambda t: t.__name__)
def test_each_table_has_every_kernel_with_the_interfaces_parameters(table):
    interface = WinogradKernelTable if table.has_winograd else KernelTable
    assert issubclass(table, interface), f"{table.__name__}: has_winograd is {table.has_winograd}, but it is not " \
        f"a {interface.__name__}"
    assert not inspect.isabstract(table), f"{table.__name__} leaves {sorted(table.__abstractmethods__)} unimplemented"
    for name in KERNELS + (WINOGRAD_KERNELS if table.has_winograd else ()):
        ours = getattr(table, name)
        assert not getattr(ours, "__isabstractmethod__", False), f"{table.__name__}.{name} is not implemented"
        assert _parameters(ours) == _parameters(getattr(interface, name)), \
            f"{table.__name__}.{name}{inspect.signature(ours)} differs from the interface's " \
            f"{inspect.signature(getattr(interface, name))}"


def test_has_winograd_is_true_exactly_where_the_winograd_kernels_are():
    for table in TABLES:
        entries = [getattr(table, n, None) for n in WINOGRAD_KERNELS]
        has_all = all(callable(f) and not getattr(f, "__isabstractmethod__", False) for f in entries)
        assert table.has_winograd == issubclass(table, WinogradKernelTable) == has_all, table.__name__
    assert NumbaKernels.has_winograd and not CudaKernels.has_winograd
    cpu, cuda = NumbaKernels(), CudaKernels(EmulatorRuntime())
    assert kernel_names(cpu) == KERNELS + WINOGRAD_KERNELS and kernel_names(cuda) == KERNELS
    assert not hasattr(cuda, "conv2d_winograd_forward")  # a table without Winograd has no such entry at all
    with minircan.backends.flags(conv_algorithm="winograd"):
        assert minircan.backends.conv_algorithm_for(cpu, (4, 8, 3, 3), (1, 1)) == "winograd"
        assert minircan.backends.conv_algorithm_for(cuda, (4, 8, 3, 3), (1, 1)) == "im2col"


def test_the_devices_hold_kernel_tables():
    assert isinstance(minircan.device("cpu").kernels, NumbaKernels)
    emulated = minircan.Device("cuda", np, CudaKernels(EmulatorRuntime()))
    assert isinstance(emulated.kernels, KernelTable)


def test_the_ops_call_only_the_tables_kernels_and_never_look_at_the_device():
    called = set()
    for path in sorted(OPS.glob("*.py")):
        text = path.read_text(encoding="utf-8")
        called |= set(re.findall(r"(?:ctx\.kernels|\bk)\.(\w+)\(", text))
        assert not re.search(r"\bcuda\b|device\.name|\.xp is|isinstance\([^)]*ndarray", text), \
            f"{path.name} branches on the device; ask ctx.kernels / ctx.xp instead"
    assert called, "no kernel calls found in minircan/ops"
    assert called == set(KERNELS + WINOGRAD_KERNELS), "called but not in the table: " \
        f"{sorted(called - set(KERNELS + WINOGRAD_KERNELS))}; in the table but never called: " \
        f"{sorted(set(KERNELS + WINOGRAD_KERNELS) - called)}"


def test_an_entry_can_be_replaced_by_name_on_an_instance():
    """What a profiler does: wrap ``table.NAME`` with getattr/setattr; the ops then go through the wrapper,
    and deleting the instance attribute brings the method back."""
    table = NumbaKernels()
    dev = minircan.Device("cpu", np, table)
    calls = []
    for name in kernel_names(table):
        original = getattr(table, name)
        setattr(table, name, lambda *a, _name=name, _f=original, **k: (calls.append(_name), _f(*a, **k))[1])
    x = minircan.tensor(np.random.default_rng(0).standard_normal((1, 4, 4, 6)), requires_grad=True, device=dev)
    w = minircan.tensor(np.random.default_rng(1).standard_normal((4, 4, 3, 3)), requires_grad=True, device=dev)
    F.pixel_shuffle(F.conv2d(x, w, padding=1).relu().sigmoid(), 2).sum().backward()
    assert calls == ["conv2d_forward", "relu_forward", "sigmoid_forward", "pixel_shuffle", "pixel_unshuffle",
                     "sigmoid_backward", "relu_backward", "conv2d_backward_input", "conv2d_backward_params"]
    for name in kernel_names(table):
        delattr(table, name)
    assert table.relu_forward.__func__ is NumbaKernels.relu_forward
