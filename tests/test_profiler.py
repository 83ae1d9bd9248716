"""minircan.profiler: every op, kernel and engine part of a tiny RCAN step is timed, the parts add up to the
wall time, the counts match the model, nothing stays wrapped (also after an error), and the step computes the
same bits. (Speed is never asserted.)"""

import numpy as np
import pytest

import minircan
import minircan.functional as F
from minircan import autograd, nn, profiler
from minircan.autograd import Function
from minircan.device import Device, made_devices
from minircan.kernels.cpu import NumbaKernels
from minircan.models.rcan import RCAN
from minircan.optim import Adam, Optimizer


def tiny_step(seed: int = 0):
    """A tiny RCAN x2 and one training step on a 2 x 3 x 7 x 9 batch (odd, unequal sizes)."""
    minircan.manual_seed(seed)
    model = RCAN.from_config("tiny", scale=2)
    opt = Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    rng = np.random.default_rng(seed)
    x = minircan.tensor((rng.random((2, 3, 7, 9)) * 255).astype(np.float32))
    y = minircan.tensor((rng.random((2, 3, 14, 18)) * 255).astype(np.float32))

    def step():
        opt.zero_grad()
        loss = F.l1_loss(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    return model, step


def snapshot() -> dict:
    """Everything the profiler may replace, by identity."""
    out = {}
    for cls in profiler._function_classes() + [Function]:
        for name in ("forward", "backward", "apply"):
            out[(cls, name)] = cls.__dict__.get(name)
    for name in ("backward", "topological_order", "_accumulate_leaf"):
        out[(autograd, name)] = getattr(autograd, name)
    for cls in [Optimizer, *profiler._subclasses(Optimizer)]:
        for name in ("step", "zero_grad"):
            out[(cls, name)] = cls.__dict__.get(name)
    for dev in made_devices():
        out[(dev, "table")] = dict(vars(dev.kernels))
    return out


def test_a_tiny_step_is_profiled_op_by_op_and_the_parts_add_up():
    model, step = tiny_step()
    step()  # JIT compilation outside the profile
    with profiler.profile() as prof:
        step()
    names = {(r.kind, r.name) for r in prof.rows()}
    for op in ("Conv2d", "ReLU", "Sigmoid", "GlobalAvgPool2d", "PixelShuffle", "Add", "Mul", "L1Loss"):
        assert ("forward", op) in names and ("backward", op) in names, op
    assert ("optimizer", "Adam.step") in names and ("optimizer", "Adam.zero_grad") in names
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    assert prof.row("forward", "Conv2d").count == len(convs) == 24
    # sub_mean sees the input (no gradient) with frozen weights: the only conv without a graph node
    assert prof.row("backward", "Conv2d").count == len(convs) - 1
    assert prof.row("forward", "ReLU").count == prof.row("backward", "ReLU").count == len(relus)
    assert prof.row("kernel", "conv2d_forward").count == len(convs)  # tiny: 16 channels, im2col everywhere
    assert prof.row("kernel", "conv2d_backward_input").count == len(convs) - 2  # nor the head's input
    assert prof.row("kernel", "relu_forward").count == len(relus)
    assert prof.row("engine", "topological sort").count == 1
    assert prof.row("engine", "backward pass").count == 1
    assert all(r.total_s > 0 and r.count > 0 for r in prof.rows())
    parts = prof.parts()
    assert parts["wall"] > 0 and all(parts[k] > 0 for k in ("forward", "backward", "optimizer", "engine"))
    assert parts["forward"] + parts["backward"] + parts["optimizer"] + parts["engine"] == pytest.approx(parts["wall"])
    assert parts["kernels"] <= parts["forward"] + parts["backward"]
    ops = sum(r.total_s for r in prof.rows() if r.kind in profiler.OP_KINDS)
    assert ops <= prof.wall_s
    assert prof.row("engine", "apply").total_s >= parts["forward"]  # apply includes the forward
    table = prof.table()
    for text in ("Conv2d forward", "Conv2d backward", "conv2d_backward_params", "Adam.step", "engine overhead",
                 "topological sort", "wall"):
        assert text in table, text


def test_the_profiled_step_computes_the_same_bits():
    model_a, step_a = tiny_step(3)
    model_b, step_b = tiny_step(3)
    losses_a = [step_a(), step_a()]
    with profiler.profile():
        losses_b = [step_b(), step_b()]
    assert losses_a == losses_b
    for (name, pa), (_, pb) in zip(model_a.named_parameters(), model_b.named_parameters()):
        assert np.array_equal(pa.numpy(), pb.numpy()), name


def test_nothing_stays_wrapped_after_the_block_or_an_error():
    before = snapshot()
    _, step = tiny_step()
    with profiler.profile():
        step()
    assert snapshot() == before and not profiler.is_active()
    with pytest.raises(ZeroDivisionError), profiler.profile():
        step()
        raise ZeroDivisionError
    assert snapshot() == before and not profiler.is_active()
    with profiler.profile(), pytest.raises(RuntimeError, match="already active"), profiler.profile():
        pass
    assert snapshot() == before


def test_a_class_instance_kernel_table_is_wrapped_and_restored(monkeypatch):
    table = NumbaKernels()  # a kernel table is a class instance: its kernels are the class's methods
    dev = Device("fake", np, table)
    monkeypatch.setattr(profiler, "made_devices", lambda: [dev])
    own = dict(vars(table))
    with profiler.profile() as prof:
        assert np.array_equal(table.relu_forward(np.array([-1.0, 2.0])), [0.0, 2.0])
    assert prof.row("kernel", "relu_forward").count == 1
    assert dict(vars(table)) == own  # the instance holds what it held: nothing for a class's methods
    assert "relu_forward" not in vars(table) and table.relu_forward.__func__ is NumbaKernels.relu_forward
