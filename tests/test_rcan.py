"""RCAN: architecture facts, official state-dict keys and parameter counts, parity with a PyTorch RCAN of
the official nesting (forward and every parameter's gradient), and checkpoint round trips."""

import numpy as np
import pytest
import torch
from conftest import FLOAT32_TOL, assert_close, rel_error

import minircan
from minircan.models import RCAN, infer_config, load_model, save_model
from minircan.pt_format import load_pt_state_dict, save_pt
from minircan.torch_reference import TorchRCAN

SMALL = dict(n_resgroups=2, n_resblocks=2, n_feats=8, reduction=4)


@pytest.mark.parametrize("scale,count,keys", [(2, 15_444_667, 1632), (3, 15_629_307, 1632), (4, 15_592_379, 1634),
                                              (8, 15_740_091, 1636)])
def test_paper_parameter_counts_and_keys(scale, count, keys):
    model = RCAN(scale=scale)
    assert model.num_parameters() == count  # mean shifts (24 values) included
    sd = model.state_dict()
    assert len(sd) == keys
    ref = TorchRCAN(scale=scale, n_resgroups=1, n_resblocks=1)  # the key pattern, on a cheap model
    ref_keys = set(ref.state_dict())
    small_keys = set(RCAN(scale=scale, n_resgroups=1, n_resblocks=1).state_dict())
    assert small_keys == ref_keys


def test_official_key_names():
    keys = list(RCAN(scale=4).state_dict())
    assert keys[:6] == ["sub_mean.weight", "sub_mean.bias", "add_mean.weight", "add_mean.bias", "head.0.weight",
                        "head.0.bias"]
    for k in ("body.0.body.0.body.0.weight", "body.0.body.0.body.2.bias", "body.9.body.19.body.3.conv_du.0.weight",
              "body.9.body.19.body.3.conv_du.2.bias", "body.3.body.20.weight", "body.10.weight", "tail.0.0.weight",
              "tail.0.2.weight", "tail.1.weight", "tail.1.bias"):
        assert k in keys, k
    assert RCAN(scale=4).state_dict()["body.0.body.0.body.3.conv_du.0.weight"].shape == (4, 64, 1, 1)


def test_mean_shift_is_frozen_identity():
    model = RCAN(scale=2, **SMALL)
    assert not model.sub_mean.weight.requires_grad and not model.add_mean.bias.requires_grad
    assert np.array_equal(model.sub_mean.weight.data.reshape(3, 3), np.eye(3))
    assert np.allclose(model.sub_mean.bias.data, [-114.444, -111.4605, -103.02])
    assert np.allclose(model.add_mean.bias.data, [114.444, 111.4605, 103.02])


def _pair(scale, dtype, seed=0, **config):
    torch.manual_seed(seed)
    ref = TorchRCAN(scale=scale, **config)
    # Perturb the mean shifts too, as an official checkpoint's trained values may be.
    with torch.no_grad():
        ref.sub_mean.bias.add_(torch.randn(3))
        ref.add_mean.weight.add_(0.01 * torch.randn(3, 3, 1, 1))
    ref = ref.to(torch.float64 if dtype == np.float64 else torch.float32)
    mine = RCAN(scale=scale, **config)
    mine.load_state_dict(ref.state_dict())
    if dtype == np.float64:
        mine.double()
    return mine, ref


def _run(model, x, hr, framework):
    """Output, input gradient and parameter gradients after an L1 loss, as NumPy arrays."""
    if framework == "torch":
        tx = torch.tensor(x, requires_grad=True)
        y = model(tx)
        torch.nn.functional.l1_loss(y, torch.tensor(hr)).backward()
        grads = {n: (None if p.grad is None else p.grad.numpy()) for n, p in model.named_parameters()}
        return y.detach().numpy(), tx.grad.numpy(), grads
    mx = minircan.tensor(x, requires_grad=True)
    y = model(mx)
    minircan.functional.l1_loss(y, minircan.tensor(hr)).backward()
    grads = {n: (None if p.grad is None else p.grad.data) for n, p in model.named_parameters()}
    return y.data, mx.grad.data, grads


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_forward_and_gradients_match_pytorch_float64(scale, rng):
    mine, ref = _pair(scale, np.float64, **SMALL)
    x = rng.random((2, 3, 7, 6)) * 255
    hr = rng.random((2, 3, 7 * scale, 6 * scale)) * 255
    y, dx, grads = _run(mine, x, hr, "minircan")
    ty, tdx, tgrads = _run(ref, x, hr, "torch")
    assert y.shape == (2, 3, 7 * scale, 6 * scale)
    assert_close(y, ty, np.float64, "output")
    assert_close(dx, tdx, np.float64, "input gradient")
    for name, g in grads.items():
        if g is None:  # the frozen mean shifts
            assert tgrads[name] is None, name
        else:
            assert_close(g, tgrads[name], np.float64, name)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_forward_and_gradients_match_pytorch_float32(scale, rng):
    """float32: the output against PyTorch's float32 within 1e-5. Each parameter gradient is judged by its
    error against the float64 result (the truth, equal to PyTorch's to 1e-10 above): below 1e-5, or no more
    than twice PyTorch's own float32 error, since some gradients (a channel-attention bias after a dozen
    layers) are sums with cancellation whose float32 rounding error exceeds 1e-5 in any implementation.
    The convolutions run on the im2col path (PyTorch's accuracy); Winograd F(4x4)'s larger float32 error is
    bounded in tests/test_kernels_winograd.py."""
    mine, ref = _pair(scale, np.float32, **SMALL)
    mine64, ref64 = _pair(scale, np.float64, **SMALL)
    x = (rng.random((2, 3, 7, 6)) * 255).astype(np.float32)
    hr = (rng.random((2, 3, 7 * scale, 6 * scale)) * 255).astype(np.float32)
    with minircan.backends.flags(conv_algorithm="im2col"):
        y, dx, grads = _run(mine, x, hr, "minircan")
    ty, tdx, tgrads = _run(ref, x, hr, "torch")
    _, dx64, grads64 = _run(ref64, x.astype(np.float64), hr.astype(np.float64), "torch")
    assert_close(y, ty, np.float32, "output")
    assert_close(dx, tdx, np.float32, "input gradient")
    for name, g in grads.items():
        if g is None:
            continue
        ours, theirs = rel_error(g, grads64[name]), rel_error(tgrads[name], grads64[name])
        assert ours < max(FLOAT32_TOL, 2 * theirs), f"{name}: error {ours:.2e}, PyTorch float32's {theirs:.2e}"


def test_paper_configuration_forward_matches_pytorch(rng):
    mine, ref = _pair(2, np.float32)
    x = (rng.random((1, 3, 8, 8)) * 255).astype(np.float32)
    with torch.no_grad():
        ty = ref(torch.tensor(x)).numpy()
    with minircan.no_grad():
        my = mine(minircan.tensor(x)).numpy()
    assert_close(my, ty, np.float32, "paper RCAN x2 output")


def test_load_x2_into_x4_non_strict_reports_the_rest():
    x2, x4 = RCAN(scale=2, **SMALL), RCAN(scale=4, **SMALL)
    before = x4.state_dict()
    with pytest.raises(ValueError, match=r"tail\.0\.2\.weight"):
        x4.load_state_dict(x2.state_dict())
    missing, unexpected = x4.load_state_dict(x2.state_dict(), strict=False)
    assert missing == ["tail.0.2.weight", "tail.0.2.bias"] and unexpected == []
    after, src = x4.state_dict(), x2.state_dict()
    assert np.array_equal(after["tail.0.0.weight"], src["tail.0.0.weight"])  # same shape: inherited
    assert np.array_equal(after["tail.0.2.weight"], before["tail.0.2.weight"])  # x4 only: kept


def test_x2_into_x3_keeps_mismatched_upsampler():
    x2, x3 = RCAN(scale=2, **SMALL), RCAN(scale=3, **SMALL)
    missing, _ = x3.load_state_dict(x2.state_dict(), strict=False)
    assert missing == ["tail.0.0.weight", "tail.0.0.bias"]


def test_native_round_trip_is_exact(tmp_path):
    model = RCAN(scale=3, **SMALL)
    save_model(model, tmp_path / "m.npz")
    back = load_model(tmp_path / "m.npz")
    assert back.config == model.config
    for (k, a), (_, b) in zip(model.state_dict().items(), back.state_dict().items()):
        assert np.array_equal(a, b), k
    assert minircan.checkpoint.checkpoint_version(tmp_path / "m.npz") == minircan.__version__


@pytest.mark.parametrize("legacy", [True, False])
def test_pt_round_trip_through_pytorch_is_exact(tmp_path, legacy):
    model = RCAN(scale=4, **SMALL)
    save_pt(model.state_dict(), tmp_path / "a.pt", legacy=legacy)
    ref = TorchRCAN(scale=4, **SMALL)
    ref.load_state_dict(torch.load(tmp_path / "a.pt", weights_only=True))  # the official code's way
    torch.save(ref.state_dict(), tmp_path / "b.pt")
    back = load_model(tmp_path / "b.pt")
    assert back.config == model.config
    for (k, a), (_, b) in zip(model.state_dict().items(), back.state_dict().items()):
        assert np.array_equal(a, b), k


@pytest.mark.parametrize("legacy", [True, False])
def test_pt_reader_without_torch_matches_torch(tmp_path, legacy):
    ref = TorchRCAN(scale=2, **SMALL)
    torch.save({"state_dict": {f"module.{k}": v for k, v in ref.state_dict().items()}}, tmp_path / "w.pt",
               _use_new_zipfile_serialization=not legacy)
    ours = load_pt_state_dict(tmp_path / "w.pt", use_torch=False)
    theirs = load_pt_state_dict(tmp_path / "w.pt", use_torch=True)
    assert list(ours) == list(ref.state_dict())
    for k in ours:
        assert np.array_equal(ours[k], theirs[k]) and ours[k].dtype == theirs[k].dtype


def test_pt_reader_refuses_code(tmp_path):
    class Payload:
        def __reduce__(self):
            return (print, ("this must never run",))

    torch.save({"x": Payload()}, tmp_path / "evil.pt")
    for use_torch in (False, True):
        with pytest.raises(ValueError, match="cannot read PyTorch checkpoint"):
            load_pt_state_dict(tmp_path / "evil.pt", use_torch=use_torch)


def test_infer_config_and_convert_cli(tmp_path, capsys):
    from minircan import convert

    ref = TorchRCAN(scale=3, n_resgroups=2, n_resblocks=3, n_feats=16, reduction=8)
    assert infer_config(ref.state_dict()) == dict(scale=3, n_resgroups=2, n_resblocks=3, n_feats=16, reduction=8)
    torch.save(ref.state_dict(), tmp_path / "official.pt")
    assert convert.main([str(tmp_path / "official.pt"), str(tmp_path / "m.npz")]) == 0
    assert convert.main([str(tmp_path / "m.npz"), str(tmp_path / "back.pt")]) == 0
    back = torch.load(tmp_path / "back.pt", weights_only=True)
    for k, v in ref.state_dict().items():
        assert torch.equal(back[k], v), k
    with pytest.raises(SystemExit):  # .npz to .npz is not a conversion
        convert.main([str(tmp_path / "m.npz"), str(tmp_path / "x.npz")])
    assert convert.main([str(tmp_path / "missing.pt"), str(tmp_path / "y.npz")]) == 1
    assert "no checkpoint at" in capsys.readouterr().err


def test_checkpoint_save_is_atomic_and_load_is_safe(tmp_path):
    path = tmp_path / "c.npz"
    minircan.save({"model": {"w": np.arange(3.0)}, "step": 7, "name": "x", "lrs": [1e-4, 5e-5]}, path)
    obj = minircan.load(path)
    assert obj["step"] == 7 and obj["name"] == "x" and obj["lrs"] == [1e-4, 5e-5]
    assert np.array_equal(obj["model"]["w"], np.arange(3.0))
    assert [p.name for p in tmp_path.iterdir()] == ["c.npz"]  # no temporary file left behind

    class Boom:
        pass

    with pytest.raises(TypeError, match="cannot save a Boom"):
        minircan.save({"model": {"w": np.arange(3.0)}, "bad": Boom()}, path)
    assert np.array_equal(minircan.load(path)["model"]["w"], np.arange(3.0))  # the old file is intact
    assert [p.name for p in tmp_path.iterdir()] == ["c.npz"]
    (tmp_path / "trunc.npz").write_bytes(path.read_bytes()[:100])
    with pytest.raises(ValueError, match="trunc.npz"):
        minircan.load(tmp_path / "trunc.npz")


def test_summary_counts_parameters_shapes_and_multiply_adds():
    model = RCAN.from_config("tiny", scale=2)
    s = model.summary((1, 3, 12, 12), max_depth=1)
    assert s.total_params == sum(p.numel() for p in model.parameters()) == 36_299
    rows = {r.name: r for r in s.rows}
    assert rows["head"].output_shape == (1, 16, 12, 12) and rows["tail"].output_shape == (1, 3, 24, 24)
    assert rows["head"].macs == 16 * 12 * 12 * 3 * 3 * 3  # K Ho Wo C kh kw of the 3 -> 16 conv3x3
    assert "total parameters 36,299" in str(s)
