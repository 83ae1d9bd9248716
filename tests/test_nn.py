"""Modules: registration order and names, state dicts (to and from PyTorch), strict loading errors,
PyTorch's default initialisation, and layers against their torch.nn twins."""

import numpy as np
import pytest
import torch
from conftest import assert_close

import minircan
from minircan import nn


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 1))
        self.att = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(4, 4, 1), nn.Sigmoid())

    def forward(self, x):
        y = self.body(x)
        return y * self.att(y)


class TorchBlock(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.body = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU(),
                                        torch.nn.Conv2d(4, 4, 1))
        self.att = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Conv2d(4, 4, 1), torch.nn.Sigmoid())

    def forward(self, x):
        y = self.body(x)
        return y * self.att(y)


def test_named_parameters_follow_pytorch():
    mine, ref = Block(), TorchBlock()
    assert [n for n, _ in mine.named_parameters()] == [n for n, _ in ref.named_parameters()]
    assert [p.shape for p in mine.parameters()] == [tuple(p.shape) for p in ref.parameters()]
    assert mine.num_parameters() == sum(p.numel() for p in ref.parameters())


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_module_forward_backward_matches_torch(rng, dtype):
    ref = TorchBlock().to(torch.float64 if dtype == np.float64 else torch.float32)
    mine = Block()
    mine.load_state_dict(ref.state_dict())
    if dtype == np.float64:
        mine.double()
    x = rng.standard_normal((2, 3, 7, 5)).astype(dtype)
    g = rng.standard_normal((2, 4, 7, 5)).astype(dtype)
    tx = torch.tensor(x, requires_grad=True)
    ref(tx).backward(torch.tensor(g))
    mx = minircan.tensor(x, requires_grad=True)
    mine(mx).backward(g)
    assert_close(mx.grad.data, tx.grad.numpy(), dtype, "input grad")
    for (name, p), (_, tp) in zip(mine.named_parameters(), ref.named_parameters()):
        assert_close(p.grad.data, tp.grad.numpy(), dtype, name)


def test_state_dict_round_trip_and_copies():
    a, b = Block(), Block()
    sd = a.state_dict()
    assert all(isinstance(v, np.ndarray) for v in sd.values())
    b.load_state_dict(sd)
    for (n, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        assert np.array_equal(p.data, q.data), n
    sd["body.0.weight"][...] = 0  # the state dict is a copy, not a view of the parameters
    assert np.any(a.body[0].weight.data != 0)


def test_load_state_dict_strict_errors_name_keys_and_shapes():
    model = Block()
    sd = model.state_dict()
    sd["body.0.weight"] = np.zeros((5, 3, 3, 3), dtype=np.float32)
    with pytest.raises(ValueError, match=r"body\.0\.weight: checkpoint \(5, 3, 3, 3\) vs model \(4, 3, 3, 3\)"):
        model.load_state_dict(sd)
    sd = model.state_dict()
    del sd["att.1.bias"]
    sd["extra.weight"] = np.zeros(3)
    with pytest.raises(ValueError, match=r"missing keys \[att\.1\.bias\].*unexpected keys \[extra\.weight\]"):
        model.load_state_dict(sd)
    missing, unexpected = model.load_state_dict(sd, strict=False)
    assert missing == ["att.1.bias"] and unexpected == ["extra.weight"]


def test_load_state_dict_refuses_the_same_number_of_elements_in_another_shape():
    # (3, 4, 3, 3) holds as many values as the (4, 3, 3, 3) weight: a check on sizes, or a reshape on
    # loading, would take it and scramble the filters.
    model = Block()
    before = model.state_dict()
    sd = model.state_dict()
    sd["body.0.weight"] = np.arange(108, dtype=np.float32).reshape(3, 4, 3, 3)
    with pytest.raises(ValueError) as info:
        model.load_state_dict(sd)
    message = str(info.value)
    assert "body.0.weight" in message and "(3, 4, 3, 3)" in message and "(4, 3, 3, 3)" in message
    assert "strict=False" in message and "configuration" in message  # the fix, in words
    for k, v in model.state_dict().items():  # a refused load changes nothing
        assert np.array_equal(v, before[k]), k
    missing, unexpected = model.load_state_dict(sd, strict=False)
    assert missing == ["body.0.weight"] and unexpected == []
    assert np.array_equal(model.body[0].weight.data, before["body.0.weight"])  # skipped, not reshaped
    assert np.array_equal(model.body[0].bias.data, sd["body.0.bias"])


def test_conv2d_default_init_matches_pytorch_bounds():
    minircan.manual_seed(0)
    conv = nn.Conv2d(64, 32, 3)
    bound = 1 / np.sqrt(64 * 9)
    w, b = conv.weight.data, conv.bias.data
    assert w.dtype == np.float32 and w.shape == (32, 64, 3, 3) and b.shape == (32,)
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    # uniform on [-bound, bound]: std bound / sqrt(3)
    assert abs(w.std() - bound / np.sqrt(3)) < 0.02 * bound
    ref = torch.nn.Conv2d(64, 32, 3)
    assert abs(ref.weight.detach().numpy().std() - w.std()) < 0.03 * bound


def test_manual_seed_makes_init_reproducible():
    minircan.manual_seed(7)
    a = nn.Conv2d(3, 3, 3).weight.data.copy()
    minircan.manual_seed(7)
    assert np.array_equal(nn.Conv2d(3, 3, 3).weight.data, a)


def test_zero_grad_train_eval_and_repr(rng):
    model = Block()
    model(minircan.tensor(rng.standard_normal((1, 3, 4, 4)).astype(np.float32))).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    model.eval()
    assert not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())
    text = repr(model)
    assert "(body): Sequential" in text and "Conv2d(3, 4, kernel_size=(3, 3), padding=1)" in text


def test_conv_without_bias_and_pixel_shuffle_layers(rng):
    conv = nn.Conv2d(2, 8, 3, padding=1, bias=False)
    assert conv.bias is None and [n for n, _ in conv.named_parameters()] == ["weight"]
    x = minircan.tensor(rng.standard_normal((1, 2, 3, 3)).astype(np.float32))
    y = nn.PixelShuffle(2)(conv(x))
    assert y.shape == (1, 2, 6, 6)
    assert nn.PixelUnshuffle(2)(y).shape == (1, 8, 3, 3)


def test_losses(rng):
    a = minircan.tensor(rng.standard_normal((2, 3)), requires_grad=True)
    t = minircan.tensor(rng.standard_normal((2, 3)))
    ta = torch.tensor(a.data, requires_grad=True)
    tt = torch.tensor(t.data)
    pairs = ((nn.L1Loss(), torch.nn.L1Loss()), (nn.MSELoss(reduction="sum"), torch.nn.MSELoss(reduction="sum")))
    for mine, ref in pairs:
        a.grad, ta.grad = None, None
        y, ty = mine(a, t), ref(ta, tt)
        y.backward()
        ty.backward()
        assert_close(y.data, ty.detach().numpy(), np.float64, "loss")
        assert_close(a.grad.data, ta.grad.numpy(), np.float64, "loss gradient")


def test_to_numpy_brings_any_array_to_the_host_without_copying_cpu_arrays():
    from minircan.device import to_numpy

    a = np.random.default_rng(0).standard_normal((2, 3))
    assert to_numpy(a) is a                              # a CPU array is not copied
    assert np.array_equal(to_numpy([[1, 2]]), np.array([[1, 2]]))
    t = minircan.tensor(a)
    assert t.numpy() is t.data                           # Tensor.numpy() shares the CPU tensor's data
    m = nn.Conv2d(1, 2, 1).double()                      # load_state_dict brings torch tensors over through it
    m.load_state_dict({"weight": torch.tensor(a[:, :1, None, None]), "bias": torch.tensor(a[:, 1])})
    assert np.array_equal(m.weight.numpy()[:, 0, 0, 0], a[:, 0]) and np.array_equal(m.bias.numpy(), a[:, 1])
