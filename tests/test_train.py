"""The training command: outputs, exact resume, interruption, non-finite losses, clear errors, and
parity of the loss curve with PyTorch."""

import json
import os
import signal

import numpy as np
import pytest
import torch

import minircan
import minircan.functional as F
from minircan import checkpoint, train
from minircan.data import PatchSampler, make_pairs, sample_images
from minircan.models import RCAN, save_model
from minircan.torch_reference import TorchRCAN

QUICK = ["--steps", "6", "--eval-every", "3", "--batch-size", "2", "--patch-size", "16", "--no-progress"]


def run(tmp_path, *extra, out="run"):
    return train.main([*QUICK, "--out", str(tmp_path / out), *extra])


def test_tiny_run_writes_everything(tmp_path, capsys):
    assert run(tmp_path) == 0
    out = tmp_path / "run"
    for name in ("model.npz", "checkpoint.npz", "log.txt", "curves.png", "comparison.png"):
        assert (out / name).stat().st_size > 0, name
    text = capsys.readouterr().out
    assert "bicubic PSNR/SSIM" in text and "chelsea" in text and "mean" in text
    log = (out / "log.txt").read_text()
    assert log.count("step 3:") == 1 and log.count("step 6:") == 1
    model = minircan.models.load_model(out / "model.npz")
    assert model.config["n_feats"] == minircan.models.CONFIGS["tiny"]["n_feats"]


def test_resume_continues_exactly(tmp_path, monkeypatch):
    assert run(tmp_path, "--steps", "8", "--eval-every", "4", out="straight") == 0
    real = train.Trainer.train_step

    def ctrl_c_during_step_5(self):
        if self.step == 4:
            os.kill(os.getpid(), signal.SIGINT)  # as a terminal's Ctrl-C: the step still completes
        return real(self)

    monkeypatch.setattr(train.Trainer, "train_step", ctrl_c_during_step_5)
    assert run(tmp_path, "--steps", "8", "--eval-every", "4", out="split") == 130
    monkeypatch.setattr(train.Trainer, "train_step", real)
    assert checkpoint.load(tmp_path / "split" / "checkpoint.npz")["step"] == 5
    assert run(tmp_path, "--steps", "8", "--eval-every", "4", "--resume", out="split") == 0
    a = checkpoint.load(tmp_path / "straight" / "checkpoint.npz")
    b = checkpoint.load(tmp_path / "split" / "checkpoint.npz")
    assert a["step"] == b["step"] == 8
    assert a["history"]["loss"] == b["history"]["loss"]
    for k in a["model"]:
        assert np.array_equal(a["model"][k], b["model"][k]), k


def test_existing_checkpoint_is_never_overwritten(tmp_path, capsys):
    assert run(tmp_path) == 0
    before = (tmp_path / "run" / "checkpoint.npz").read_bytes()
    assert run(tmp_path) == 1
    assert "pass --resume" in capsys.readouterr().err
    assert (tmp_path / "run" / "checkpoint.npz").read_bytes() == before
    assert run(tmp_path, "--resume", out="nothing-here") == 1
    assert "no checkpoint at" in capsys.readouterr().err


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch, capsys):
    assert run(tmp_path, "--steps", "3", "--eval-every", "3") == 0
    good = checkpoint.load(tmp_path / "run" / "checkpoint.npz")
    real = PatchSampler.next_batch

    def poisoned(self):
        lr, hr = real(self)
        lr[0, 0, 0, 0] = np.nan
        return lr, hr

    monkeypatch.setattr(PatchSampler, "next_batch", poisoned)
    assert run(tmp_path, "--steps", "6", "--eval-every", "3", "--resume") == 1
    assert "the loss became nan at step 4" in capsys.readouterr().err
    kept = checkpoint.load(tmp_path / "run" / "checkpoint.npz")
    assert kept["step"] == 3 and kept["history"]["loss"] == good["history"]["loss"]
    assert json.loads(kept["sampler"]) == json.loads(good["sampler"])


def test_ctrl_c_saves_a_checkpoint_to_resume_from(tmp_path, monkeypatch, capsys):
    real = train.Trainer.train_step

    def interrupted(self):
        if self.step == 1:
            os.kill(os.getpid(), signal.SIGINT)
        return real(self)

    monkeypatch.setattr(train.Trainer, "train_step", interrupted)
    assert run(tmp_path) == 130
    assert "interrupted at step 2" in capsys.readouterr().err
    assert checkpoint.load(tmp_path / "run" / "checkpoint.npz")["step"] == 2
    monkeypatch.setattr(train.Trainer, "train_step", real)
    assert run(tmp_path, "--resume") == 0
    assert checkpoint.load(tmp_path / "run" / "checkpoint.npz")["step"] == 6


def test_patch_bigger_than_the_images_is_a_clear_error(tmp_path, capsys):
    assert run(tmp_path, "--patch-size", "1000") == 1
    err = capsys.readouterr().err
    assert "patch" in err.lower() and "1000" in err


def test_init_from_x2_into_x4(tmp_path, capsys):
    x2 = RCAN.from_config("tiny", scale=2)
    save_model(x2, tmp_path / "x2.npz")
    assert run(tmp_path, "--scale", "4", "--steps", "1", "--eval-every", "1", "--patch-size", "8",
               "--init-from", str(tmp_path / "x2.npz")) == 0
    assert "tail.0.2.weight" in capsys.readouterr().out


def test_bad_options_are_refused():
    with pytest.raises(SystemExit):
        train.parse_args(["--tiny", "--config", "paper"])
    with pytest.raises(SystemExit):
        train.parse_args(["--steps", "0"])
    with pytest.raises(SystemExit):
        train.parse_args(["--schedule", "step"])


def test_loss_curve_matches_pytorch(rng):
    """The tiny RCAN trained 30 steps in minircan and in PyTorch from the same weights on the same batches."""
    minircan.manual_seed(0)
    model = RCAN.from_config("tiny", scale=2)
    ref = TorchRCAN(scale=2, **minircan.models.CONFIGS["tiny"])
    ref.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items()})
    opt = minircan.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    topt = torch.optim.Adam([p for p in ref.parameters() if p.requires_grad], lr=1e-3)
    sampler = PatchSampler(make_pairs(sample_images("train"), 2), 2, patch_size=24, batch_size=4, seed=3)
    ours, theirs = [], []
    for _ in range(30):
        lr, hr = sampler.next_batch()
        opt.zero_grad()
        loss = F.l1_loss(model(minircan.tensor(lr)), minircan.tensor(hr))
        loss.backward()
        opt.step()
        topt.zero_grad()
        tloss = torch.nn.functional.l1_loss(ref(torch.from_numpy(lr)), torch.from_numpy(hr))
        tloss.backward()
        topt.step()
        ours.append(loss.item())
        theirs.append(tloss.item())
    ours, theirs = np.array(ours), np.array(theirs)
    assert ours[-1] < ours[0]  # it learns
    assert np.max(np.abs(ours - theirs) / theirs) < 1e-4, np.max(np.abs(ours - theirs) / theirs)


def test_cli_entry_point_runs(tmp_path):
    import subprocess
    import sys

    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.dirname(os.path.dirname(minircan.__file__))]))
    proc = subprocess.run([sys.executable, "-m", "minircan.train", *QUICK, "--steps", "2", "--eval-every", "2",
                           "--out", str(tmp_path / "cli")], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "wrote" in proc.stdout


def test_train_config_presets_and_errors():
    from minircan.train_config import PRESETS, TrainConfig

    tiny = TrainConfig.preset("tiny")
    config, flags = train.parse_args(["--tiny"])
    assert config == tiny and not flags.resume  # the command line's --tiny is exactly the preset
    assert (tiny.lr, tiny.steps, tiny.schedule) == (PRESETS["tiny"]["lr"], PRESETS["tiny"]["steps"], "cosine")
    assert tiny.out == os.path.join("runs", "tiny-x2")
    assert TrainConfig.preset("paper").model_kwargs() == dict(minircan.models.CONFIGS["paper"], scale=2)
    assert tiny.replace(feats=8).model_kwargs()["n_feats"] == 8 and tiny.feats is None
    with pytest.raises(ValueError, match="steps must be"):
        TrainConfig.preset("tiny", steps=0)
    with pytest.raises(ValueError, match="lr_step"):
        TrainConfig.preset("tiny", schedule="step")
    with pytest.raises(TypeError, match="no setting"):
        TrainConfig.preset("tiny", learning_rate=1.0)
    with pytest.raises(TypeError, match="TrainConfig"):
        train.Trainer(vars(tiny))


def test_conv_algorithm_is_a_setting_of_the_run(monkeypatch):
    """--conv-algorithm reaches every convolution of the step and the evaluation, and only inside the run."""
    from minircan import backends
    from minircan.device import cpu
    from minircan.train_config import TrainConfig

    calls = {"winograd": 0}
    winograd = cpu.kernels.conv2d_winograd_forward

    def counted(*args, **kwargs):
        calls["winograd"] += 1
        return winograd(*args, **kwargs)

    monkeypatch.setattr(cpu.kernels, "conv2d_winograd_forward", counted)
    config, _ = train.parse_args([*QUICK, "--conv-algorithm", "winograd"])
    assert config.conv_algorithm == "winograd" and train.parse_args(QUICK)[0].conv_algorithm == "auto"
    with pytest.raises(SystemExit):
        train.parse_args(["--conv-algorithm", "fft"])
    with pytest.raises(ValueError, match="conv algorithm"):
        TrainConfig.preset("tiny", conv_algorithm="fft")
    pairs = make_pairs(sample_images("train")[:2], 2), make_pairs(sample_images("val")[:1], 2)
    losses = {}
    for algorithm in ("im2col", "winograd"):
        minircan.manual_seed(0)
        trainer = train.Trainer(config.replace(conv_algorithm=algorithm), *pairs)
        calls["winograd"] = 0
        losses[algorithm] = [trainer.train_step() for _ in range(2)]
        n_convs = sum(isinstance(m, minircan.nn.Conv2d) and m.kernel_size == (3, 3) for m in trainer.model.modules())
        assert calls["winograd"] == (2 * n_convs if algorithm == "winograd" else 0), (algorithm, calls)
        trainer.evaluate()
        assert (calls["winograd"] > 2 * n_convs) == (algorithm == "winograd")  # the evaluation's convs too
        assert backends.conv_algorithm == "auto"  # the setting is the run's, not the program's
    assert losses["im2col"] == pytest.approx(losses["winograd"], rel=1e-5)
