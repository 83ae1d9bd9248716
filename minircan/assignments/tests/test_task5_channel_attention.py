"""Task 5: ChannelAttention and RCAB as modules (minircan/models/rcan.py).

Your modules are built, loaded with the reference weights and compared with the solution's outputs and
gradients. The kernels and the backward walk underneath are stand-ins (oracles.py), so only the modules
themselves are graded.
"""

import numpy as np
import pytest
import oracles
from checks import check_close, references

import minircan
from minircan.models import RCAN
from minircan.models.rcan import RCAB, ChannelAttention

pytestmark = pytest.mark.task("5")


@pytest.fixture(autouse=True)
def _other_tasks(monkeypatch):
    oracles.install(monkeypatch, "1", "2", "3", "4")


def cases(kind):
    return [c for c in references("5") if str(c["kind"]) == kind]


def build(case):
    channels, reduction = int(case["channels"]), int(case["reduction"])
    name = "ChannelAttention" if str(case["kind"]) == "ca" else "RCAB"
    module = (ChannelAttention if name == "ChannelAttention" else RCAB)(channels, reduction).double()
    expected = {k[len("param:"):]: v for k, v in case.items() if k.startswith("param:")}
    got = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    want = {k: tuple(v.shape) for k, v in expected.items()}
    assert got == want, (f"{name}({channels}, {reduction}).state_dict() has keys and shapes {got}, expected the "
                         f"official {want}")
    module.load_state_dict(expected)
    return f"{name}({channels}, {reduction})", module


@pytest.mark.parametrize("kind", ["ca", "rcab"])
def test_parameters_have_the_official_names_and_shapes(kind):
    for case in cases(kind):
        build(case)


@pytest.mark.parametrize("kind", ["ca", "rcab"])
def test_forward_matches_the_reference(kind):
    for case in cases(kind):
        name, module = build(case)
        with minircan.no_grad():
            y = module(minircan.tensor(case["x"]))
        check_close(y.numpy(), case["y"], f"{name} output for x {case['x'].shape}")


def test_channel_attention_weights():
    for case in cases("ca"):
        name, module = build(case)
        with minircan.no_grad():
            w = module.weights(minircan.tensor(case["x"]))
        check_close(w.numpy(), case["weights"], f"{name}.weights(x), one weight per image and channel")


@pytest.mark.parametrize("kind", ["ca", "rcab"])
def test_gradients_match_the_reference(kind):
    for case in cases(kind):
        name, module = build(case)
        x = minircan.tensor(case["x"], requires_grad=True)
        module(x).backward(case["g"])
        check_close(x.grad.numpy() if x.grad is not None else None, case["dx"], f"{name} input gradient")
        for pname, p in module.named_parameters():
            check_close(p.grad.numpy() if p.grad is not None else None, case[f"grad:{pname}"],
                        f"{name} gradient of {pname}")


def test_channel_attention_rescales_each_channel_by_a_weight_in_0_1():
    rng = np.random.default_rng(50)
    ca = ChannelAttention(8, 2).double()
    x = minircan.tensor(rng.standard_normal((2, 8, 5, 5)))
    with minircan.no_grad():
        w = ca.weights(x).numpy()
        y = ca(x).numpy()
    assert w.shape == (2, 8, 1, 1), f"weights(x) has shape {w.shape}, expected (N, C, 1, 1) = (2, 8, 1, 1)"
    assert np.all((w > 0) & (w < 1)), "channel-attention weights come out of a sigmoid: in (0, 1)"
    np.testing.assert_allclose(y, x.numpy() * w, rtol=1e-12, err_msg="ChannelAttention(x) = x * weights(x)")


def test_tiny_rcan_has_the_official_state_dict():
    (case,) = cases("rcan")
    shapes, ends = case["shapes"], np.cumsum(case["ndims"])
    want = {str(k): tuple(int(d) for d in shapes[e - n:e]) for k, n, e in zip(case["keys"], case["ndims"], ends)}
    got = {k: tuple(v.shape) for k, v in RCAN.from_config("tiny", scale=2).state_dict().items()}
    missing, extra = sorted(set(want) - set(got)), sorted(set(got) - set(want))
    assert not missing and not extra, f"RCAN('tiny') state dict: missing {missing[:4]}, unexpected {extra[:4]}"
    wrong = {k: (got[k], want[k]) for k in want if got[k] != want[k]}
    assert not wrong, f"RCAN('tiny') state dict shapes (yours, official): {wrong}"
