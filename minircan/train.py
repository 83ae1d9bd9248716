"""``python -m minircan.train``: train RCAN on LR/HR patches with Adam and an L1 loss.

    python -m minircan.train --tiny            # the demonstration: tiny RCAN, bundled photographs, x2,
                                               # a few CPU minutes, then a PSNR/SSIM table against bicubic
    python -m minircan.train --config paper --data /data/DIV2K --scale 2      # the paper's recipe

Everything lands in ``--out``: ``checkpoint.npz`` (the full training state, rewritten atomically at every
evaluation, on Ctrl-C and at the end), ``model.npz`` (the final weights, for evaluate/upscale),
``log.txt`` (every evaluation), ``curves.png`` (loss and validation PSNR) and ``comparison.png``
(bicubic | minircan | ground truth). ``--resume`` continues from ``checkpoint.npz`` exactly as the
uninterrupted run would have, bit for bit: weights, Adam's moments, the schedule, the step and the random
states (patch sampler, minircan's generator) are all restored.

Ctrl-C: a checkpoint always describes the state between two steps. During training the first Ctrl-C only
asks the loop to stop once the current step is done (it then writes the checkpoint and exits with status
130); a second one stops at once without writing, and the last checkpoint on disk stays intact (writes are
atomic). Before the first step it exits with one line, leaving no folder behind.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import signal
import sys
import threading
import time

import numpy as np

from . import backends, checkpoint, manual_seed
from . import functional as F
from .data import PatchSampler, div2k_pairs, make_pairs, sample_images
from .device import device as get_device
from .inference import bicubic, super_resolve
from .metrics import psnr, ssim
from .models.files import load_state_dict_file, save_model
from .models.rcan import CONFIGS, RCAN
from .optim import Adam, CosineAnnealingLR, StepLR
from .outputs import check_writable_folder
from .random import generator
from .report import plot_comparison, plot_curves, results_table
from .tensor import Tensor
from .train_config import DEGRADATIONS, PRESETS, SCALES, SCHEDULES, TrainConfig

CHECKPOINT_FORMAT = "minircan-train"


class TrainingError(RuntimeError):
    """A run that cannot go on (a non-finite loss, a checkpoint that does not fit the run)."""


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C ended the run; ``message`` says at which step and what is on disk."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class _StopRequest:
    """SIGINT during training: the first sets ``requested``, which the loop reads between steps; the second
    raises KeyboardInterrupt at once. Installed only in the main thread (where Python delivers signals)."""

    def __init__(self):
        self.requested = False
        self._installed = False
        self._previous = None

    def __enter__(self) -> _StopRequest:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handler)
            self._installed = True
        return self

    def __exit__(self, *exc) -> None:
        if self._installed:  # (None: the previous handler was set outside Python; Python's own is the best guess)
            signal.signal(signal.SIGINT, self._previous if self._previous is not None else signal.default_int_handler)

    def _handler(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        # os.write, not print: the handler may run in the middle of a print to the same stream.
        try:
            os.write(2, b"\nCtrl-C: stopping after the current step and saving a checkpoint "
                        b"(Ctrl-C again stops at once, without saving)\n")
        except OSError:
            pass


def _whole_step(train_step):
    """The step runs with the run's conv algorithm (``config.conv_algorithm``) and happens whole or not at
    all: when it fails (a non-finite loss raises TrainingError before anything is updated), the patch sampler
    is put back, so the weights and the batches to come are those of before the step."""

    @functools.wraps(train_step)
    def step(self) -> float:
        sampler = getattr(self, "sampler", None)
        before = sampler.state() if sampler is not None else None
        try:
            # (getattr: the course's grader calls the unbound stub with self=None)
            with backends.flags(conv_algorithm=getattr(getattr(self, "config", None), "conv_algorithm", None)):
                return train_step(self)
        except TrainingError:
            if before is not None:
                sampler.set_state(before)
            raise

    return step


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m minircan.train",
        description="Train RCAN on LR/HR patches with Adam and an L1 loss; everything goes into --out (weights, "
                    "checkpoint, log, curves, comparison picture). Ctrl-C stops after the current step with a "
                    "checkpoint; --resume continues exactly.")
    preset = ", ".join(f"{name} {r['steps']} steps at lr {r['lr']:g} ({r['schedule']})" for name, r in PRESETS.items())
    p.add_argument("--tiny", action="store_true",
                   help="the demonstration: --config tiny, x2, bundled images, done in a few CPU minutes")
    p.add_argument("--config", choices=sorted(CONFIGS), default=None,
                   help="RCAN size and its training recipe (default: tiny; recipes: " + preset + ")")
    p.add_argument("--resgroups", type=int, help="G, residual groups (default: the size's own)")
    p.add_argument("--resblocks", type=int, help="B, RCABs per group (default: the size's own)")
    p.add_argument("--feats", type=int, help="C, feature channels (default: the size's own)")
    p.add_argument("--reduction", type=int, help="r, channel-attention reduction (default: the size's own)")
    p.add_argument("--scale", type=int, choices=list(SCALES), help="upscaling factor (default: 2)")
    p.add_argument("--degradation", choices=list(DEGRADATIONS),
                   help="how LR images are made: BI bicubic, BD blur then downsample (default: BI)")
    p.add_argument("--data", help="a DIV2K folder (DIV2K_train_HR/...) (default: the bundled sample images)")
    p.add_argument("--steps", type=int, help="training iterations, one batch each (default: the recipe's)")
    p.add_argument("--batch-size", type=int, help="patches per batch (default: 16)")
    p.add_argument("--patch-size", type=int, help="LR patch side; the HR patch is scale times it (default: 48)")
    p.add_argument("--lr", type=float, help="Adam's learning rate (default: the recipe's)")
    p.add_argument("--schedule", choices=list(SCHEDULES), help="learning-rate schedule (default: the recipe's)")
    p.add_argument("--lr-step", type=int,
                   help="halve the learning rate every N steps; implies --schedule step (default: the recipe's)")
    p.add_argument("--seed", type=int, help="seeds the weights and the patch sampler (default: 0)")
    p.add_argument("--out", help="output folder (default: runs/<config>-x<scale>)")
    p.add_argument("--resume", action="store_true", help="continue from <out>/checkpoint.npz")
    p.add_argument("--eval-every", type=int, help="evaluate and checkpoint every N steps (default: the recipe's)")
    p.add_argument("--init-from", help="start from these weights (.npz or official .pt); tensors whose shape "
                                       "does not fit (e.g. an x2 upsampler in an x4 model) stay as initialised "
                                       "(default: random initialisation)")
    p.add_argument("--device", help="cpu, cuda or auto (default: cpu)")
    p.add_argument("--conv-algorithm", choices=list(backends.CONV_ALGORITHMS),
                   help="how convolutions are computed: im2col + BLAS, Winograd F(4x4, 3x3) for 3x3 stride-1 "
                        "convs, or auto, Winograd where it pays (default: auto; see minircan.backends)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (log lines only)")
    return p


RUN_OPTIONS = ("tiny", "resume", "no_progress")  # flags of the command, not settings of the run


def parse_args(argv: list[str] | None = None) -> tuple[TrainConfig, argparse.Namespace]:
    """(the run's TrainConfig, the command's own flags: resume, no_progress). Bad options exit with usage."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.tiny:
        if args.config not in (None, "tiny"):
            parser.error("--tiny trains the tiny configuration; drop --config or --tiny")
        if args.data:
            parser.error("--tiny trains on the bundled images; drop --data or --tiny")
    changes = {k: v for k, v in vars(args).items() if k not in RUN_OPTIONS + ("config",) and v is not None}
    if args.lr_step is not None:
        changes["schedule"] = "step"
    try:
        config = TrainConfig.preset(args.config or "tiny", **changes)
        config.device = get_device(config.device).name  # 'auto': cuda where available, else cpu
    except (RuntimeError, ValueError) as e:
        parser.error(str(e))
    return config, argparse.Namespace(resume=args.resume, no_progress=args.no_progress)


def load_data(config: TrainConfig) -> tuple[list, list]:
    """(training pairs, validation pairs) of uint8 HR/LR images."""
    if config.data:
        train = div2k_pairs(config.data, config.scale, config.degradation, split="train")
        val = div2k_pairs(config.data, config.scale, config.degradation, split="val")[:5]  # the official 801-805
    else:
        train = make_pairs(sample_images("train"), config.scale, config.degradation)
        val = make_pairs(sample_images("val"), config.scale, config.degradation)
    return train, val


class Trainer:
    """One training run: the model, Adam, the schedule, the patch sampler and the history."""

    def __init__(self, config: TrainConfig, train_pairs: list | None = None, val_pairs: list | None = None):
        """``config``: the run's settings; the pairs default to ``load_data(config)``."""
        if not isinstance(config, TrainConfig):
            raise TypeError(f"Trainer takes a TrainConfig (TrainConfig.preset('tiny', ...)), not "
                            f"{type(config).__name__}")
        if train_pairs is None or val_pairs is None:
            train_pairs, val_pairs = load_data(config)
        self.config = config
        self.device = get_device(config.device)
        manual_seed(config.seed)
        self.model = RCAN(**config.model_kwargs()).to(self.device)
        if config.init_from:
            sd, _ = load_state_dict_file(config.init_from)
            missing, unexpected = self.model.load_state_dict(sd, strict=False)
            print(f"initialised from {config.init_from}; kept as initialised: {missing or 'nothing'}"
                  + (f"; ignored: {unexpected}" if unexpected else ""))
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = Adam(self.params, lr=config.lr, betas=(0.9, 0.999), eps=1e-8)
        if config.schedule == "cosine":
            self.scheduler = CosineAnnealingLR(self.optimizer, T_max=config.steps, eta_min=config.lr * 0.01)
        elif config.schedule == "step":
            self.scheduler = StepLR(self.optimizer, step_size=config.lr_step, gamma=0.5)
        else:
            self.scheduler = None
        self.sampler = PatchSampler(train_pairs, config.scale, config.patch_size, config.batch_size, seed=config.seed)
        self.val_pairs = val_pairs
        self.step = 0
        self.history: dict[str, list] = {"loss": [], "eval": []}
        self.last_rows: list[dict] = []  # per-image results of the latest evaluation
        self.bicubic = [evaluate_pair_bicubic(p, config.scale) for p in val_pairs]

    # ----- one step --------------------------------------------------------------------------------
    @_whole_step
    def train_step(self) -> float:
        # BEGIN SOLUTION (task 7)
        lr_patch, hr_patch = self.sampler.next_batch()
        x = Tensor(lr_patch, device=self.device)
        y = Tensor(hr_patch, device=self.device)
        self.optimizer.zero_grad()
        loss = F.l1_loss(self.model(x), y)
        value = loss.item()
        if not math.isfinite(value):
            raise TrainingError(f"the loss became {value} at step {self.step + 1}; the last good checkpoint is "
                                "kept. Lower --lr, or check the data")
        loss.backward()
        self.optimizer.step()
        if self.scheduler is not None:
            self.scheduler.step()
        self.step += 1
        self.history["loss"].append(value)
        return value
        # END SOLUTION

    # ----- evaluation ------------------------------------------------------------------------------
    def evaluate(self) -> list[dict]:
        """PSNR/SSIM (Y channel, border = scale) of the model on every validation image."""
        self.model.eval()
        rows = []
        for pair, bic in zip(self.val_pairs, self.bicubic):
            with backends.flags(conv_algorithm=self.config.conv_algorithm):
                sr = super_resolve(self.model, pair.lr, self.config.scale)
            rows.append(dict(name=pair.name, psnr=psnr(sr, pair.hr, self.config.scale),
                             ssim=ssim(sr, pair.hr, self.config.scale), bicubic_psnr=bic["psnr"],
                             bicubic_ssim=bic["ssim"]))
        self.model.train()
        self.last_rows = rows
        mean_psnr = float(np.mean([r["psnr"] for r in rows]))
        self.history["eval"].append(dict(step=self.step, psnr=mean_psnr,
                                         ssim=float(np.mean([r["ssim"] for r in rows]))))
        return rows

    # ----- checkpoints -----------------------------------------------------------------------------
    def state(self) -> dict:
        return {
            "format": CHECKPOINT_FORMAT, "config": self.model.config, "step": self.step,
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler else None,
            "sampler": json.dumps(self.sampler.state()), "history": self.history,
            "rng": json.dumps(_plain(generator().bit_generator.state)), "args": self.config.as_dict(),
        }

    def save(self, path: str) -> None:
        checkpoint.save(self.state(), path)

    def load(self, path: str) -> None:
        state = checkpoint.load(path)
        if state.get("format") != CHECKPOINT_FORMAT:
            raise TrainingError(f"{path} is not a minircan training checkpoint")
        if dict(state["config"]) != self.model.config:
            raise TrainingError(f"{path} was written for RCAN {dict(state['config'])}, but this run builds "
                                f"{self.model.config}; pass the same --config/--scale options, or another --out")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state["scheduler"] is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        self.sampler.set_state(json.loads(state["sampler"]))
        if state.get("rng") is not None:  # (checkpoints written before it was saved have none)
            generator().bit_generator.state = json.loads(state["rng"])
        self.step = int(state["step"])
        self.history = {"loss": list(state["history"]["loss"]),
                        "eval": [dict(e) for e in state["history"]["eval"]]}


def _plain(value):
    """A bit generator's state with NumPy integers made Python ints, for JSON."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return int(value) if isinstance(value, np.integer) else value


def evaluate_pair_bicubic(pair, scale: int) -> dict:
    up = bicubic(pair.lr, scale, pair.hr.shape)
    return dict(psnr=psnr(up, pair.hr, scale), ssim=ssim(up, pair.hr, scale))


def describe(config: TrainConfig, model: RCAN, n_train: int, n_val: int) -> str:
    """The run in two lines, as the README's summary: the model, then the recipe."""
    c = model.config
    schedule = {"cosine": "cosine decay to lr/100", "constant": "constant rate",
                "step": f"halved every {config.lr_step:,} steps" if config.lr_step else "step"}[config.schedule]
    return (f"RCAN {config.config} x{config.scale}: G={c['n_resgroups']} B={c['n_resblocks']} C={c['n_feats']} "
            f"r={c['reduction']}, {model.num_parameters():,} parameters\n"
            f"{n_train} training images, {n_val} validation images; {config.steps:,} steps of {config.batch_size} x "
            f"{config.patch_size}x{config.patch_size} patches, Adam lr {config.lr:g} ({schedule}), evaluated "
            f"every {config.eval_every:,} steps"
            + ("" if config.conv_algorithm == "auto" else f"; convolutions by {config.conv_algorithm}"))


def print_header(text: str) -> None:
    print(text, flush=True)


def run(config: TrainConfig, resume: bool = False, progress: bool = True) -> Trainer:
    """Train as the config says; returns the trainer (the model, history) for callers such as tests and
    notebooks. ``resume`` continues from ``<out>/checkpoint.npz``.

    Raises TrainingInterrupted (a KeyboardInterrupt) after Ctrl-C, once the checkpoint is safe;
    TrainingError, or OutputError (a ValueError) for an --out that cannot be written, before any work.
    """
    ckpt_path = os.path.join(config.out, "checkpoint.npz")
    log_path = os.path.join(config.out, "log.txt")
    check_writable_folder(config.out, "--out")
    if resume and not os.path.exists(ckpt_path):
        raise TrainingError(f"--resume: no checkpoint at {ckpt_path}; run without --resume to start")
    if not resume and os.path.exists(ckpt_path):
        raise TrainingError(f"{ckpt_path} exists: pass --resume to continue that run, or choose another --out "
                            "(nothing was overwritten)")
    train_pairs, val_pairs = load_data(config)
    trainer = Trainer(config, train_pairs, val_pairs)
    if resume:
        trainer.load(ckpt_path)
        print(f"resumed from {ckpt_path} at step {trainer.step}")
        planned = checkpoint.load(ckpt_path)["args"].get("steps")
        if planned != config.steps and config.schedule == "cosine":
            print(f"warning: the run was planned for {planned} steps and its cosine schedule keeps that length; "
                  f"steps past {planned} train at the final rate", file=sys.stderr)
    created = not os.path.exists(config.out)
    try:
        with _StopRequest() as stop:
            header = describe(config, trainer.model, len(train_pairs), len(val_pairs))
            print_header(header)
            os.makedirs(config.out, exist_ok=True)
            with open(log_path, "a") as log:
                log.write(header + "\n")
                elapsed = _train_loop(trainer, config, ckpt_path, log, progress, stop)
                try:
                    _write_outputs(trainer, config, val_pairs, elapsed, log)
                except KeyboardInterrupt:
                    raise TrainingInterrupted(f"interrupted while writing the outputs; training is complete "
                                              f"(checkpoint at step {trainer.step}): run again with --resume to "
                                              "write them") from None
    except BaseException:
        if created and not os.path.exists(ckpt_path):  # this run made the folder and saved nothing: remove it
            if os.path.exists(log_path):
                os.remove(log_path)
            try:
                os.rmdir(config.out)
            except OSError:
                pass
        raise
    return trainer


def _write_outputs(trainer: Trainer, config: TrainConfig, val_pairs: list, elapsed: float, log) -> None:
    if not trainer.last_rows or trainer.history["eval"][-1]["step"] != trainer.step:
        trainer.evaluate()
    rows = trainer.last_rows
    save_model(trainer.model, os.path.join(config.out, "model.npz"))
    plot_curves(trainer.history, float(np.mean([r["bicubic_psnr"] for r in rows])),
                os.path.join(config.out, "curves.png"))
    plot_comparison(trainer.model, val_pairs, config.scale, os.path.join(config.out, "comparison.png"))
    summary = (f"\ntrained {trainer.step} steps in {elapsed:.0f} s this session; validation, Y channel, "
               f"border {config.scale}:\n{results_table(rows)}\n\nwrote {config.out}/: model.npz, checkpoint.npz, "
               "log.txt, curves.png, comparison.png")
    print(summary)
    log.write(summary + "\n")


def _train_loop(trainer: Trainer, config: TrainConfig, ckpt_path: str, log, progress: bool,
                stop: _StopRequest | None = None) -> float:
    """Steps until config.steps, evaluating and checkpointing every config.eval_every; returns the seconds spent.

    ``stop.requested`` (the first Ctrl-C) is read between steps: the loop then saves a checkpoint of the state
    after the last whole step and raises TrainingInterrupted. A KeyboardInterrupt inside a step (the second
    Ctrl-C) saves nothing: the last checkpoint on disk is intact. A non-finite loss raises TrainingError
    before anything is saved, so the last good checkpoint stays.
    """
    stop = stop or _StopRequest()
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=config.steps, initial=trainer.step, unit="step", dynamic_ncols=True, file=sys.stdout)
    say = bar.write if bar is not None else print
    t0 = time.perf_counter()
    first = trainer.step
    saved = trainer.step if os.path.exists(ckpt_path) else None  # the step of the checkpoint on disk
    try:
        while trainer.step < config.steps and not stop.requested:
            loss = trainer.train_step()
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{loss:.2f}", lr=f"{trainer.optimizer.lr:.2e}", refresh=False)
            if trainer.step % config.eval_every == 0 or trainer.step == config.steps:
                rows = trainer.evaluate()
                e = trainer.history["eval"][-1]
                line = (f"step {e['step']}: PSNR {e['psnr']:.3f} dB, SSIM {e['ssim']:.4f} (bicubic "
                        f"{np.mean([r['bicubic_psnr'] for r in rows]):.3f} dB), loss "
                        f"{np.mean(trainer.history['loss'][-50:]):.3f}")
                log.write(line + "\n")
                log.flush()
                say(line)
                trainer.save(ckpt_path)
                saved = trainer.step
        if stop.requested:
            if bar is not None:
                bar.close()
            if trainer.step == first:
                raise TrainingInterrupted("interrupted before the first step: nothing was written")
            if saved != trainer.step:
                trainer.save(ckpt_path)
            raise TrainingInterrupted(f"interrupted at step {trainer.step}: saved {ckpt_path}; continue with "
                                      "--resume")
    except TrainingInterrupted:
        raise
    except KeyboardInterrupt:
        on_disk = f"the checkpoint on disk holds step {saved}" if saved is not None else "no checkpoint was written"
        raise TrainingInterrupted(f"stopped at once during step {trainer.step + 1}, without saving; {on_disk}"
                                  + ("; continue with --resume" if saved is not None else "")) from None
    finally:
        if bar is not None:
            bar.close()
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    config, flags = parse_args(argv)
    try:
        run(config, resume=flags.resume, progress=not flags.no_progress)
    except TrainingInterrupted as e:
        print(e.message, file=sys.stderr)
        return 130
    except KeyboardInterrupt:  # while the data load or the model is built: nothing written yet
        print("interrupted before the first step: nothing was written", file=sys.stderr)
        return 130
    except (TrainingError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
