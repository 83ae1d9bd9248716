"""Reference values for the task tests, computed from the solution at build time on fixed random inputs.

The student release carries no solution code and its tests need no PyTorch, so what a test compares the
student's code with is computed here, by the library itself (which is the solution), and shipped as
``tests/references/task<N>.npz``: each file holds a list of cases, every case its inputs, its parameters
and the solution's outputs, all as plain arrays (loaded with ``allow_pickle=False``).

The inputs come from fixed seeds, so a rebuilt release has the same values; a case stores its inputs, so
the tests never regenerate them. Reference values are float64 unless a case is about float32.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

Case = dict[str, np.ndarray]

# The conv2d shapes of tasks 2, 3 and 6 (task 6 takes the first two and the last):
# (N, C, H, W, K, kh, kw, stride, padding, bias, dtype).
CONV_CASES = (
    (2, 3, 7, 8, 4, 3, 3, (1, 1), (1, 1), True, np.float64),
    (1, 2, 9, 7, 3, 3, 3, (2, 2), (0, 0), True, np.float64),
    (2, 3, 8, 9, 2, 5, 3, (2, 1), (2, 1), False, np.float64),
    (3, 1, 5, 5, 1, 1, 1, (1, 1), (0, 0), True, np.float64),
    (1, 4, 6, 5, 5, 3, 5, (1, 2), (1, 2), True, np.float64),
    (5, 3, 6, 7, 4, 3, 3, (1, 1), (1, 1), True, np.float64),  # batches of 5 and 3: the chunk tests split them
    (3, 2, 7, 6, 3, 3, 2, (2, 1), (1, 0), False, np.float64),
    (2, 8, 10, 10, 6, 3, 3, (1, 1), (1, 1), True, np.float32),
)


def _conv_inputs(rng: np.random.Generator, spec: tuple) -> Case:
    n, c, h, w, k, kh, kw, stride, padding, bias, dtype = spec
    case = {
        "x": rng.standard_normal((n, c, h, w)).astype(dtype),
        "w": rng.standard_normal((k, c, kh, kw)).astype(dtype),
        "stride": np.array(stride), "padding": np.array(padding),
    }
    if bias:
        case["b"] = rng.standard_normal(k).astype(dtype)
    return case


def task2() -> list[Case]:
    """conv2d forward: y for every shape of CONV_CASES."""
    from minircan.kernels import conv2d

    rng = np.random.default_rng(2)
    cases = []
    for spec in CONV_CASES:
        case = _conv_inputs(rng, spec)
        case["y"] = conv2d.forward(case["x"], case["w"], case.get("b"), tuple(case["stride"]), tuple(case["padding"]))
        cases.append(case)
    return cases


def task3() -> list[Case]:
    """conv2d backward: dx, dw, db for a random upstream gradient g, every shape of CONV_CASES."""
    from minircan.kernels import conv2d

    rng = np.random.default_rng(3)
    cases = []
    for spec in CONV_CASES:
        case = _conv_inputs(rng, spec)
        stride, padding = tuple(case["stride"]), tuple(case["padding"])
        y = conv2d.forward(case["x"], case["w"], case.get("b"), stride, padding)
        case["g"] = rng.standard_normal(y.shape).astype(y.dtype)
        case["dx"] = conv2d.backward_input(case["g"], case["w"], case["x"].shape, stride, padding)
        case["dw"], db = conv2d.backward_params(case["g"], case["x"], case["w"].shape, stride, padding, True)
        case["db"] = db
        cases.append(case)
    return cases


def task4() -> list[Case]:
    """ReLU, sigmoid, global average pooling and pixel shuffle, forward and backward, float64 and float32."""
    from minircan.kernels import avg_pool, pixel_shuffle, relu, sigmoid

    rng = np.random.default_rng(4)
    cases: list[Case] = []
    for dtype in (np.float64, np.float32):
        x = rng.standard_normal((2, 3, 5, 7)).astype(dtype)
        x[0, 0, 0, :3] = 0  # relu's gradient at exactly 0 is 0
        g = rng.standard_normal(x.shape).astype(dtype)
        y = relu.forward(x)
        cases.append(dict(op=np.array("relu"), x=x, y=y, g=g, dx=relu.backward(g, y)))
        xs = np.concatenate([x.reshape(-1), np.array([-1000, -100, -30, 30, 100, 1000], dtype=dtype)])
        gs = rng.standard_normal(xs.shape).astype(dtype)
        ys = sigmoid.forward(xs)
        cases.append(dict(op=np.array("sigmoid"), x=xs, y=ys, g=gs, dx=sigmoid.backward(gs, ys)))
        xp = (rng.standard_normal((2, 4, 6, 5)) + 3).astype(dtype)
        gp = rng.standard_normal((2, 4, 1, 1)).astype(dtype)
        cases.append(dict(op=np.array("avg_pool"), x=xp, y=avg_pool.forward(xp), g=gp,
                          dx=avg_pool.backward(gp, xp.shape)))
        for r in (2, 3):
            xs2 = rng.standard_normal((2, 2 * r * r, 3, 4)).astype(dtype)
            gs2 = rng.standard_normal((2, 2, 3 * r, 4 * r)).astype(dtype)
            cases.append(dict(op=np.array("pixel_shuffle"), r=np.array(r), x=xs2,
                              y=pixel_shuffle.pixel_shuffle(xs2, r), g=gs2,
                              dx=pixel_shuffle.pixel_unshuffle(gs2, r)))
    return cases


def task5() -> list[Case]:
    """ChannelAttention and RCAB modules: state dict, output, input gradient and every parameter's gradient;
    and the state-dict keys and shapes of the tiny RCAN built from them (the official names)."""
    import minircan
    from minircan.models.rcan import RCAB, ChannelAttention

    rng = np.random.default_rng(5)
    cases = []
    for kind, channels, reduction in (("ca", 8, 4), ("ca", 6, 3), ("rcab", 8, 4), ("rcab", 4, 2)):
        minircan.manual_seed(50 + channels)
        module = (ChannelAttention(channels, reduction) if kind == "ca" else RCAB(channels, reduction)).double()
        for p in module.parameters():  # not the initialisation's small values: every path must matter
            p.data[...] = rng.standard_normal(p.shape)
        x = minircan.tensor(rng.standard_normal((2, channels, 5, 6)), requires_grad=True)
        y = module(x)
        g = rng.standard_normal(y.shape)
        y.backward(g)
        case = dict(kind=np.array(kind), channels=np.array(channels), reduction=np.array(reduction),
                    x=x.numpy(), y=y.numpy(), g=g, dx=x.grad.numpy())
        if kind == "ca":
            case["weights"] = module.weights(minircan.tensor(case["x"])).numpy()
        for name, p in module.named_parameters():
            case[f"param:{name}"] = p.numpy().copy()
            case[f"grad:{name}"] = p.grad.numpy()
        cases.append(case)
    from minircan.models import RCAN

    shapes = {k: v.shape for k, v in RCAN.from_config("tiny", scale=2).state_dict().items()}
    cases.append(dict(kind=np.array("rcan"), keys=np.array(list(shapes)),
                      ndims=np.array([len(s) for s in shapes.values()]),
                      shapes=np.array([d for s in shapes.values() for d in s])))
    return cases


def task6() -> list[Case]:
    """The CUDA kernels' expected values: sigmoid (float32 and float64), conv2d forward, global average pooling
    and conv2d's bias gradient (the solution's Numba kernels compute them; the CUDA kernels must agree)."""
    from minircan.kernels import avg_pool, conv2d, sigmoid

    rng = np.random.default_rng(6)
    cases: list[Case] = []
    for dtype in (np.float32, np.float64):
        x = np.concatenate([rng.standard_normal(1000) * 4, [-1000, -100, -30, 0, 30, 100, 1000]]).astype(dtype)
        g = rng.standard_normal(x.shape).astype(dtype)
        y = sigmoid.forward(x)
        cases.append(dict(op=np.array("sigmoid"), x=x, y=y, g=g, dx=sigmoid.backward(g, y)))
    for spec in CONV_CASES[:2] + CONV_CASES[-1:]:
        case = _conv_inputs(rng, spec)
        case["op"] = np.array("conv2d")
        case["y"] = conv2d.forward(case["x"], case["w"], case.get("b"), tuple(case["stride"]), tuple(case["padding"]))
        cases.append(case)
    # The block reduction (avg_pool.cu, block_reduce.cuh): planes of fewer pixels than the block's 256 threads,
    # of more (not a multiple: the stride loop's last round is partial), and of exactly two rounds.
    for shape, dtype in (((2, 3, 5, 7), np.float64), ((1, 2, 23, 29), np.float64), ((2, 2, 16, 32), np.float32),
                         ((1, 3, 19, 17), np.float32)):
        x = (rng.standard_normal(shape) + 2).astype(dtype)
        cases.append(dict(op=np.array("avg_pool"), x=x, y=avg_pool.forward(x)))
    g = rng.standard_normal((3, 5, 11, 13))  # conv2d's bias gradient: block_sum over 3 x 11 x 13 = 429 values
    cases.append(dict(op=np.array("bias"), g=g, db=conv2d.backward_bias(g)))
    return cases


GENERATORS: dict[str, Callable[[], list[Case]]] = {"2": task2, "3": task3, "4": task4, "5": task5, "6": task6}


def save(cases: list[Case], path: str | Path) -> None:
    """Write cases as one .npz, key '<case index>.<name>' (the task tests' checks.references reads it)."""
    arrays = {f"{i}.{name}": np.asarray(value) for i, case in enumerate(cases) for name, value in case.items()}
    np.savez_compressed(path, **arrays)


def write_all(folder: str | Path) -> list[Path]:
    """Compute every task's reference values with the running (solution) package; returns the files written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for task_id, generate in GENERATORS.items():
        path = folder / f"task{task_id}.npz"
        save(generate(), path)
        written.append(path)
    return written
