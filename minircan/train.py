"""``python -m minircan.train``: train RCAN on LR/HR patches with Adam and an L1 loss.

    python -m minircan.train --tiny            # the demonstration: tiny RCAN, bundled photographs, x2,
                                               # a few CPU minutes, then a PSNR/SSIM table against bicubic
    python -m minircan.train --config paper --data /data/DIV2K --scale 2      # the paper's recipe

Everything lands in ``--out``: ``checkpoint.npz`` (the full training state, rewritten atomically at every
evaluation, on Ctrl-C and at the end), ``model.npz`` (the final weights, for evaluate/upscale),
``log.txt`` (every evaluation), ``curves.png`` (loss and validation PSNR) and ``comparison.png``
(bicubic | minircan | ground truth). ``--resume`` continues from ``checkpoint.npz`` exactly as the
uninterrupted run would have: weights, Adam's moments, the schedule, the step and the patch sampler's
random state are all restored.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import numpy as np

from . import checkpoint, manual_seed
from . import functional as F
from .data import PatchSampler, div2k_pairs, make_pairs, sample_images
from .device import device as get_device
from .inference import bicubic, super_resolve
from .metrics import psnr, ssim
from .models.files import load_state_dict_file, save_model
from .models.rcan import CONFIGS, RCAN
from .optim import Adam, CosineAnnealingLR, StepLR
from .report import plot_comparison, plot_curves, results_table
from .tensor import Tensor
from .train_config import DEGRADATIONS, PRESETS, SCALES, SCHEDULES, TrainConfig

CHECKPOINT_FORMAT = "minircan-train"


class TrainingError(RuntimeError):
    """A run that cannot go on (a non-finite loss, a checkpoint that does not fit the run)."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m minircan.train", description=__doc__.split("\n\n")[0])
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
    p.add_argument("--lr-step", type=int, help="halve the learning rate every N steps (implies --schedule step)")
    p.add_argument("--seed", type=int, help="seeds the weights and the patch sampler (default: 0)")
    p.add_argument("--out", help="output folder (default: runs/<config>-x<scale>)")
    p.add_argument("--resume", action="store_true", help="continue from <out>/checkpoint.npz")
    p.add_argument("--eval-every", type=int, help="evaluate and checkpoint every N steps (default: the recipe's)")
    p.add_argument("--init-from", help="start from these weights (.npz or official .pt); tensors whose shape "
                                       "does not fit (e.g. an x2 upsampler in an x4 model) stay as initialised")
    p.add_argument("--device", help="cpu, cuda or auto (default: cpu)")
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
            "args": self.config.as_dict(),
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
        self.step = int(state["step"])
        self.history = {"loss": list(state["history"]["loss"]),
                        "eval": [dict(e) for e in state["history"]["eval"]]}


def evaluate_pair_bicubic(pair, scale: int) -> dict:
    up = bicubic(pair.lr, scale, pair.hr.shape)
    return dict(psnr=psnr(up, pair.hr, scale), ssim=ssim(up, pair.hr, scale))


def run(config: TrainConfig, resume: bool = False, progress: bool = True) -> Trainer:
    """Train as the config says; returns the trainer (the model, history) for callers such as tests and
    notebooks. ``resume`` continues from ``<out>/checkpoint.npz``."""
    os.makedirs(config.out, exist_ok=True)
    ckpt_path = os.path.join(config.out, "checkpoint.npz")
    log_path = os.path.join(config.out, "log.txt")
    train_pairs, val_pairs = load_data(config)
    trainer = Trainer(config, train_pairs, val_pairs)
    if resume:
        if not os.path.exists(ckpt_path):
            raise TrainingError(f"--resume: no checkpoint at {ckpt_path}; run without --resume to start")
        trainer.load(ckpt_path)
        print(f"resumed from {ckpt_path} at step {trainer.step}")
        planned = checkpoint.load(ckpt_path)["args"].get("steps")
        if planned != config.steps and config.schedule == "cosine":
            print(f"warning: the run was planned for {planned} steps and its cosine schedule keeps that length; "
                  f"steps past {planned} train at the final rate", file=sys.stderr)
    elif os.path.exists(ckpt_path):
        raise TrainingError(f"{ckpt_path} exists: pass --resume to continue that run, or choose another --out "
                            "(nothing was overwritten)")
    n_params = trainer.model.num_parameters()
    header = (f"RCAN {trainer.model.config} ({n_params:,} parameters), {len(train_pairs)} training images, "
              f"{len(val_pairs)} validation images, {config.steps} steps of {config.batch_size} x "
              f"{config.patch_size}x{config.patch_size} patches, Adam lr {config.lr} ({config.schedule})")
    print(header)
    with open(log_path, "a") as log:
        log.write(header + "\n")
        elapsed = _train_loop(trainer, config, ckpt_path, log, progress)
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
    return trainer


def _train_loop(trainer: Trainer, config: TrainConfig, ckpt_path: str, log, progress: bool) -> float:
    """Steps until config.steps, evaluating and checkpointing every config.eval_every; returns the seconds spent.

    Ctrl-C saves a checkpoint and exits with status 130; a non-finite loss raises TrainingError before
    anything is saved, so the last good checkpoint stays.
    """
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=config.steps, initial=trainer.step, unit="step", dynamic_ncols=True, file=sys.stdout)
    say = bar.write if bar is not None else print
    t0 = time.perf_counter()
    try:
        while trainer.step < config.steps:
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
    except KeyboardInterrupt:
        if bar is not None:
            bar.close()
        trainer.save(ckpt_path)
        print(f"\ninterrupted at step {trainer.step}: saved {ckpt_path}; continue with --resume")
        raise SystemExit(130) from None
    finally:
        if bar is not None:
            bar.close()
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    config, flags = parse_args(argv)
    try:
        run(config, resume=flags.resume, progress=not flags.no_progress)
    except (TrainingError, ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
