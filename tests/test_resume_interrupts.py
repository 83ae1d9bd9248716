"""Ctrl-C at any moment of ``python -m minircan.train``: the checkpoint describes the state between two steps,
and an interrupted-and-resumed run ends bit for bit where the uninterrupted one does.

Interrupts are real SIGINTs, sent with ``os.kill(os.getpid(), SIGINT)`` from hooks patched into the data
loading, the forward, the loss, the backward, Adam's update, the schedule, the evaluation and the checkpoint
write, from a timer thread, and (last test) from outside to a ``python -m minircan.train`` process.
The validation images are cropped and the plots skipped to keep this quick: neither affects the weights.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import minircan
from minircan import checkpoint, train
from minircan.data import ImagePair, PatchSampler
from minircan.models.rcan import RCAN
from minircan.optim import Adam, CosineAnnealingLR
from minircan.tensor import Tensor
from minircan.train_config import TrainConfig

STEPS = 40
QUICK = ["--steps", str(STEPS), "--batch-size", "2", "--patch-size", "12", "--eval-every", "10", "--no-progress"]


@pytest.fixture(scope="module")
def data():
    train_pairs, val_pairs = train.load_data(TrainConfig.preset("tiny"))
    p = val_pairs[0]  # one small validation image: evaluation does not change the weights
    small_val = [ImagePair(p.name, np.ascontiguousarray(p.hr[:32, :32]), np.ascontiguousarray(p.lr[:16, :16]))]
    return train_pairs, small_val


@pytest.fixture(autouse=True)
def python_sigint():
    """Python's own Ctrl-C handler, as in a terminal, for every test here: a pytest started in the background
    by a shell inherits SIGINT ignored, and then there would be no KeyboardInterrupt to test (nor the handler
    that train.main must put back)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.fixture
def fast(monkeypatch, data):
    monkeypatch.setattr(train, "load_data", lambda config: data)
    monkeypatch.setattr(train, "plot_curves", lambda *a, **k: None)
    monkeypatch.setattr(train, "plot_comparison", lambda *a, **k: None)


def call_main(args):
    """train.main's exit status; an exception that escapes (KeyboardInterrupt, SystemExit) fails the test
    instead of stopping pytest itself."""
    try:
        return train.main(args)
    except KeyboardInterrupt:
        pytest.fail("a KeyboardInterrupt escaped train.main (a traceback for the user)")
    except SystemExit as e:
        return ("SystemExit", e.code)
    finally:
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler, "SIGINT handler not restored"


def kill():
    os.kill(os.getpid(), signal.SIGINT)


class Recorder:
    """Wraps Trainer.train_step: knows the step in progress and keeps the state after every step."""

    def __init__(self, monkeypatch):
        self.current = 0          # the step being computed (1-based), 0 outside a step
        self.after: dict[int, dict] = {}
        real = train.Trainer.train_step
        rec = self

        def wrapped(trainer):
            rec.current = trainer.step + 1
            rec.on_step_start(rec.current)
            try:
                return real(trainer)
            finally:
                rec.current = 0
                rec.after[trainer.step] = dict(model={k: v.copy() for k, v in trainer.model.state_dict().items()},
                                               sampler=trainer.sampler.state(), lr=trainer.optimizer.lr)

        monkeypatch.setattr(train.Trainer, "train_step", wrapped)

    def on_step_start(self, step):
        pass


def hook(monkeypatch, owner, name, when, times=1):
    """Patch owner.name so that it sends SIGINT (``times`` of them) when ``when()`` first holds, then runs."""
    real = getattr(owner, name)
    fired = []

    def patched(*args, **kwargs):
        if not fired and when():
            fired.append(True)
            for _ in range(times):
                kill()
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, patched)
    return fired


def test_ctrl_c_at_many_points_resumes_bit_for_bit(tmp_path, monkeypatch, fast, capfd):
    rec = Recorder(monkeypatch)
    assert call_main([*QUICK, "--out", str(tmp_path / "straight")]) == 0
    straight = checkpoint.load(tmp_path / "straight" / "checkpoint.npz")
    states = rec.after  # the uninterrupted run's state after each step
    capfd.readouterr()

    def at(k):
        return lambda: rec.current == k

    def after(k):  # between steps, once step k is done (evaluation, checkpoint)
        return lambda: rec.current == 0 and max(rec.after, default=0) == k

    def adam_mid_step(mp):
        real, calls = Adam._update, []

        def patched(self, *a):
            if rec.current == 12:
                calls.append(1)
                if len(calls) == 5:  # between the 5th and 6th parameter's update
                    kill()
            return real(self, *a)

        mp.setattr(Adam, "_update", patched)

    def timer(mp):
        mp.setattr(rec, "on_step_start", lambda step: step == 24 and threading.Timer(0.02, kill).start())

    points = [  # (where, install the interrupt), in the order the run meets them
        ("the first step's forward", lambda mp: hook(mp, RCAN, "forward", at(1))),
        ("data loading (next_batch) of step 3", lambda mp: hook(mp, PatchSampler, "next_batch", at(3))),
        ("the loss of step 6", lambda mp: hook(mp, minircan.functional, "l1_loss", at(6))),
        ("the backward of step 9", lambda mp: hook(mp, Tensor, "backward", at(9))),
        ("Adam's update of step 12, after 4 of its parameters", adam_mid_step),
        ("the schedule's step of step 15", lambda mp: hook(mp, CosineAnnealingLR, "step", at(15))),
        ("the checkpoint write after step 20", lambda mp: hook(mp, os, "fsync", after(20))),
        ("a timer thread during step 24", timer),
        ("the evaluation after step 30", lambda mp: hook(mp, train, "psnr", after(30))),
        ("twice (stop at once) in step 33's forward", lambda mp: hook(mp, RCAN, "forward", at(33), times=2)),
        ("the last step's forward", lambda mp: hook(mp, RCAN, "forward", at(STEPS))),
    ]
    out = tmp_path / "split"
    args = [*QUICK, "--out", str(out)]
    seen = []
    for name, install in points:
        rec.after = {}
        before = (out / "checkpoint.npz").read_bytes() if (out / "checkpoint.npz").exists() else None
        with monkeypatch.context() as mp:
            install(mp)
            rc = call_main(args + (["--resume"] if before is not None else []))
        err = capfd.readouterr().err
        assert rc == 130, f"{name}: exit status {rc}"
        assert "Traceback" not in err, f"{name}:\n{err}"
        ck = checkpoint.load(out / "checkpoint.npz")
        k = int(ck["step"])
        if "twice" in name:
            assert (out / "checkpoint.npz").read_bytes() == before, "a second Ctrl-C must not write a checkpoint"
            assert "at once" in err and f"step {k}" in err, err
        else:
            assert f"interrupted at step {k}" in err, f"{name}: {err}"
            assert k == max(rec.after), f"{name}: checkpoint at step {k}, the run stopped after {max(rec.after)}"
            for key, value in ck["model"].items():
                assert np.array_equal(value, states[k]["model"][key]), f"{name}: {key} differs at step {k}"
            assert json.loads(ck["sampler"]) == states[k]["sampler"], f"{name}: the sampler is not step {k}'s"
            assert ck["history"]["loss"] == list(straight["history"]["loss"][:k]), name
        seen.append((name, k))
    assert call_main([*args, "--resume"]) == 0
    final = checkpoint.load(out / "checkpoint.npz")
    assert final["step"] == STEPS
    assert final["history"]["loss"] == straight["history"]["loss"]
    for key, value in straight["model"].items():
        assert np.array_equal(final["model"][key], value), key
    a = minircan.models.load_model(tmp_path / "straight" / "model.npz").state_dict()
    b = minircan.models.load_model(out / "model.npz").state_dict()
    assert all(np.array_equal(a[key], b[key]) for key in a)
    print("interrupted at:", seen)


def test_ctrl_c_while_loading_data_leaves_nothing(tmp_path, monkeypatch, capfd):
    def loading(config):
        kill()
        time.sleep(5)  # the interrupt arrives during this
        raise AssertionError("not interrupted")

    monkeypatch.setattr(train, "load_data", loading)
    out = tmp_path / "new-run"
    assert call_main([*QUICK, "--out", str(out)]) == 130
    err = capfd.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert "interrupted" in err
    assert not out.exists(), "an interrupted start must not leave a folder behind"
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    assert call_main([*QUICK, "--out", str(mine)]) == 130
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]


def test_ctrl_c_before_the_first_step_writes_nothing(tmp_path, monkeypatch, fast, capfd):
    # the interrupt arrives after the handler is installed but before a step ran (while the header prints)
    real_print_header = train.print_header

    def header(*a, **k):
        kill()
        return real_print_header(*a, **k)

    monkeypatch.setattr(train, "print_header", header)
    out = tmp_path / "run"
    assert call_main([*QUICK, "--out", str(out)]) == 130
    err = capfd.readouterr().err
    assert "Traceback" not in err and "before the first step" in err, err
    assert not out.exists()


def test_non_finite_loss_leaves_weights_and_sampler_as_before(data, tmp_path, monkeypatch):
    config = TrainConfig.preset("tiny", steps=10, batch_size=2, patch_size=12, out=str(tmp_path))
    trainer = train.Trainer(config, *data)
    trainer.train_step()
    weights = {k: v.copy() for k, v in trainer.model.state_dict().items()}
    sampler = trainer.sampler.state()
    real = PatchSampler.next_batch

    def poisoned(self):
        lr, hr = real(self)
        lr[0, 0, 0, 0] = np.inf
        return lr, hr

    monkeypatch.setattr(PatchSampler, "next_batch", poisoned)
    with pytest.raises(train.TrainingError, match="step 2"):
        trainer.train_step()
    assert trainer.step == 1
    assert trainer.sampler.state() == sampler, "the failed step's batch must be drawn again, not skipped"
    assert all(np.array_equal(v, weights[k]) for k, v in trainer.model.state_dict().items())


def test_a_real_sigint_to_the_command(tmp_path, data):
    """SIGINT from outside, as a terminal's Ctrl-C sends it: one message, exit 130, a checkpoint between two
    steps that equals the uninterrupted run's state at that step."""
    out = tmp_path / "cli"
    args = ["--steps", "400", "--batch-size", "2", "--patch-size", "12", "--eval-every", "1000", "--no-progress"]
    env = dict(os.environ, PYTHONUNBUFFERED="1",
               PYTHONPATH=os.path.dirname(os.path.dirname(minircan.__file__)))
    proc = subprocess.Popen([sys.executable, "-m", "minircan.train", *args, "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline()
        assert line.startswith("RCAN tiny x2"), line + proc.stderr.read()
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "stopping after" in stderr and "interrupted at step" in stderr, stderr
    ck = checkpoint.load(out / "checkpoint.npz")
    k = int(ck["step"])
    assert 1 <= k < 400
    config = TrainConfig.preset("tiny", steps=400, batch_size=2, patch_size=12, eval_every=1000, out=str(out))
    trainer = train.Trainer(config, *data)
    for _ in range(k):
        trainer.train_step()
    for key, value in trainer.model.state_dict().items():
        assert np.array_equal(ck["model"][key], value), key
    assert json.loads(ck["sampler"]) == trainer.sampler.state()


def test_checkpoint_restores_minircans_random_state(data, tmp_path):
    """Nothing in a step draws from minircan's generator today, but a layer that did (dropout) would: the
    checkpoint carries it too."""
    config = TrainConfig.preset("tiny", steps=10, batch_size=2, patch_size=12, out=str(tmp_path))
    trainer = train.Trainer(config, *data)
    trainer.train_step()
    minircan.randn(5)  # as a dropout layer in the step would draw
    trainer.save(tmp_path / "c.npz")
    expected = minircan.randn(4).numpy()
    resumed = train.Trainer(config, *data)  # re-seeds and initialises: the generator is back before the draw
    resumed.load(tmp_path / "c.npz")
    assert np.array_equal(minircan.randn(4).numpy(), expected)
