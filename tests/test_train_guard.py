"""The NaN guard of Trainer.train_step: a step whose loss is not finite raises TrainingError and leaves
the run exactly as it was: every parameter, every optimiser state array, the learning rate, the step count
and the history, bit for bit. (A guard placed after backward() and step() would still raise, and the step
count would still be right, while the parameters were already NaN.)"""

import numpy as np
import pytest

from minircan.data import PatchSampler
from minircan.train import Trainer, TrainingError
from minircan.train_config import TrainConfig


def _snapshot(trainer):
    params = [p.data.copy() for p in trainer.params]
    opt = trainer.optimizer.state_dict()
    arrays = [(i, k, np.array(v, copy=True)) for i, s in enumerate(opt["state"]) for k, v in s.items()
              if not np.isscalar(v)]
    scalars = [(i, k, v) for i, s in enumerate(opt["state"]) for k, v in s.items() if np.isscalar(v)]
    return params, arrays, scalars, trainer.optimizer.lr, trainer.step, list(trainer.history["loss"])


def test_a_nan_batch_changes_nothing(tmp_path, monkeypatch):
    config = TrainConfig.preset("tiny", steps=10, batch_size=2, patch_size=16, out=str(tmp_path))
    trainer = Trainer(config)
    for _ in range(2):  # the optimiser has state (moments, step counts) to lose
        assert np.isfinite(trainer.train_step())
    before = _snapshot(trainer)
    assert before[1], "Adam should hold moment arrays after two steps"
    real = PatchSampler.next_batch
    for where in ("lr", "hr"):  # a NaN in the input, then one in the target

        def poisoned(self, where=where):
            lr, hr = real(self)
            (lr if where == "lr" else hr)[1, 2, 3, 4] = np.nan
            return lr, hr

        monkeypatch.setattr(PatchSampler, "next_batch", poisoned)
        with pytest.raises(TrainingError, match="nan"):
            trainer.train_step()
        params, arrays, scalars, lr, step, losses = _snapshot(trainer)
        for i, (a, b) in enumerate(zip(params, before[0])):
            assert np.array_equal(a, b), f"{where}: parameter {i} changed by the failed step"
            assert np.isfinite(a).all(), f"{where}: parameter {i} holds NaN"
        assert len(arrays) == len(before[1])
        for (i, k, a), (_, _, b) in zip(arrays, before[1]):
            assert np.array_equal(a, b), f"{where}: optimizer state {i}.{k} changed by the failed step"
        assert scalars == before[2] and lr == before[3] and step == before[4] and losses == before[5], where
