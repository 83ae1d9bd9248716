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
from .tensor import Tensor

# Per-configuration defaults (the command line overrides them). tiny and small were settled by measuring
# PSNR gained in a few CPU minutes (see the README); paper is the paper's recipe.
DEFAULTS = {
    "tiny": dict(lr=4e-3, schedule="cosine", steps=2000, eval_every=250),
    "small": dict(lr=1e-3, schedule="cosine", steps=3000, eval_every=500),
    "paper": dict(lr=1e-4, schedule="step", lr_step=200_000, steps=1_000_000, eval_every=1000),
}
CHECKPOINT_FORMAT = "minircan-train"


class TrainingError(RuntimeError):
    """A run that cannot go on (a non-finite loss, a checkpoint that does not fit the run)."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m minircan.train", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--tiny", action="store_true",
                   help="the demonstration: --config tiny, x2, bundled images, done in a few CPU minutes")
    p.add_argument("--config", choices=sorted(CONFIGS), default=None, help="RCAN size (default: tiny)")
    p.add_argument("--resgroups", type=int, help="G, residual groups (overrides the configuration)")
    p.add_argument("--resblocks", type=int, help="B, RCABs per group")
    p.add_argument("--feats", type=int, help="C, feature channels")
    p.add_argument("--reduction", type=int, help="r, channel-attention reduction")
    p.add_argument("--scale", type=int, choices=[2, 3, 4, 8], default=2)
    p.add_argument("--degradation", choices=["BI", "BD"], default="BI")
    p.add_argument("--data", help="a DIV2K folder (DIV2K_train_HR/...); default: the bundled sample images")
    p.add_argument("--steps", type=int, help="training iterations (one batch each)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--patch-size", type=int, default=48, help="LR patch size (the HR patch is scale times it)")
    p.add_argument("--lr", type=float, help="Adam's learning rate")
    p.add_argument("--schedule", choices=["cosine", "step", "constant"], help="learning-rate schedule")
    p.add_argument("--lr-step", type=int, help="halve the learning rate every N steps (implies --schedule step)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="output folder (default: runs/<config>-x<scale>)")
    p.add_argument("--resume", action="store_true", help="continue from <out>/checkpoint.npz")
    p.add_argument("--eval-every", type=int, help="evaluate (and checkpoint) every N steps")
    p.add_argument("--init-from", help="start from these weights (.npz or official .pt); tensors whose shape "
                                       "does not fit (e.g. an x2 upsampler in an x4 model) stay as initialised")
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (log lines only)")
    return p


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.tiny:
        if args.config not in (None, "tiny"):
            parser.error("--tiny trains the tiny configuration; drop --config or --tiny")
        if args.data:
            parser.error("--tiny trains on the bundled images; drop --data or --tiny")
    args.config = args.config or "tiny"
    for key, value in DEFAULTS[args.config].items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    if args.lr_step is not None and args.schedule != "step":
        args.schedule = "step"
    if args.schedule == "step" and args.lr_step is None:
        parser.error("--schedule step needs --lr-step N (halve every N steps)")
    for name in ("steps", "batch_size", "patch_size", "eval_every"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    args.out = args.out or os.path.join("runs", f"{args.config}-x{args.scale}")
    try:
        args.device = get_device(args.device).name  # 'auto': cuda where available, else cpu
    except (RuntimeError, ValueError) as e:
        parser.error(str(e))
    return args


def model_config(args: argparse.Namespace) -> dict:
    config = dict(CONFIGS[args.config], scale=args.scale)
    for arg, key in (("resgroups", "n_resgroups"), ("resblocks", "n_resblocks"), ("feats", "n_feats"),
                     ("reduction", "reduction")):
        if getattr(args, arg) is not None:
            config[key] = getattr(args, arg)
    return config


def load_data(args: argparse.Namespace) -> tuple[list, list]:
    """(training pairs, validation pairs) of uint8 HR/LR images."""
    if args.data:
        train = div2k_pairs(args.data, args.scale, args.degradation, split="train")
        val = div2k_pairs(args.data, args.scale, args.degradation, split="val")[:5]  # the official 801-805
    else:
        train = make_pairs(sample_images("train"), args.scale, args.degradation)
        val = make_pairs(sample_images("val"), args.scale, args.degradation)
    return train, val


class Trainer:
    """One training run: the model, Adam, the schedule, the patch sampler and the history."""

    def __init__(self, args: argparse.Namespace, train_pairs: list, val_pairs: list):
        self.args = args
        self.device = get_device(args.device)
        manual_seed(args.seed)
        self.model = RCAN(**model_config(args)).to(self.device)
        if args.init_from:
            sd, _ = load_state_dict_file(args.init_from)
            missing, unexpected = self.model.load_state_dict(sd, strict=False)
            print(f"initialised from {args.init_from}; kept as initialised: {missing or 'nothing'}"
                  + (f"; ignored: {unexpected}" if unexpected else ""))
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = Adam(self.params, lr=args.lr, betas=(0.9, 0.999), eps=1e-8)
        if args.schedule == "cosine":
            self.scheduler = CosineAnnealingLR(self.optimizer, T_max=args.steps, eta_min=args.lr * 0.01)
        elif args.schedule == "step":
            self.scheduler = StepLR(self.optimizer, step_size=args.lr_step, gamma=0.5)
        else:
            self.scheduler = None
        self.sampler = PatchSampler(train_pairs, args.scale, args.patch_size, args.batch_size, seed=args.seed)
        self.val_pairs = val_pairs
        self.step = 0
        self.history: dict[str, list] = {"loss": [], "eval": []}
        self.last_rows: list[dict] = []  # per-image results of the latest evaluation
        self.bicubic = [evaluate_pair_bicubic(p, args.scale) for p in val_pairs]

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
            sr = super_resolve(self.model, pair.lr, self.args.scale)
            rows.append(dict(name=pair.name, psnr=psnr(sr, pair.hr, self.args.scale),
                             ssim=ssim(sr, pair.hr, self.args.scale), bicubic_psnr=bic["psnr"],
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
            "args": {k: v for k, v in vars(self.args).items() if k not in ("resume",)},
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


def results_table(rows: list[dict]) -> str:
    lines = [f"{'image':<22}{'bicubic PSNR/SSIM':>22}{'minircan PSNR/SSIM':>22}{'gain (dB)':>11}"]
    for r in rows:
        lines.append(f"{r['name']:<22}{r['bicubic_psnr']:>14.2f} / {r['bicubic_ssim']:.4f}"
                     f"{r['psnr']:>14.2f} / {r['ssim']:.4f}{r['psnr'] - r['bicubic_psnr']:>+11.2f}")
    mean = {k: float(np.mean([r[k] for r in rows])) for k in ("psnr", "ssim", "bicubic_psnr", "bicubic_ssim")}
    lines.append(f"{'mean':<22}{mean['bicubic_psnr']:>14.2f} / {mean['bicubic_ssim']:.4f}"
                 f"{mean['psnr']:>14.2f} / {mean['ssim']:.4f}{mean['psnr'] - mean['bicubic_psnr']:>+11.2f}")
    return "\n".join(lines)


def plot_curves(history: dict, bicubic_psnr: float, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 4))
    loss = np.asarray(history["loss"])
    ax0.plot(np.arange(1, len(loss) + 1), loss, lw=0.5, alpha=0.4, label="per batch")
    if len(loss) >= 20:
        k = max(1, len(loss) // 50)
        smooth = np.convolve(loss, np.ones(k) / k, mode="valid")
        ax0.plot(np.arange(k, len(loss) + 1), smooth, lw=1.5, label=f"mean of {k}")
    ax0.set(xlabel="step", ylabel="L1 loss (0-255 scale)", title="training loss", yscale="log")
    ax0.legend()
    steps = [e["step"] for e in history["eval"]]
    ax1.plot(steps, [e["psnr"] for e in history["eval"]], "o-", label="minircan")
    ax1.axhline(bicubic_psnr, color="gray", ls="--", label="bicubic")
    ax1.set(xlabel="step", ylabel="PSNR (dB, Y)", title="validation PSNR")
    ax1.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_comparison(model, pairs: list, scale: int, path: str, crop: int = 96) -> None:
    """bicubic | minircan | ground truth, a crop from the middle of each validation image."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(pairs), 3, figsize=(9, 3.1 * len(pairs)), squeeze=False)
    for row, pair in zip(axes, pairs):
        sr = super_resolve(model, pair.lr, scale)
        bic = bicubic(pair.lr, scale, pair.hr.shape)
        h, w = pair.hr.shape[:2]
        c = min(crop, h, w)
        y0, x0 = (h - c) // 2, (w - c) // 2
        for ax, img, title in zip(row, (bic, sr, pair.hr), ("bicubic", "minircan", "ground truth")):
            ax.imshow(img[y0:y0 + c, x0:x0 + c], interpolation="nearest")
            score = "" if img is pair.hr else f" {psnr(img, pair.hr, scale):.2f} dB"
            ax.set_title(f"{pair.name}: {title}{score}", fontsize=9)
            ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(args: argparse.Namespace) -> Trainer:
    """Train as args say; returns the trainer (the model, history) for callers such as tests and notebooks."""
    os.makedirs(args.out, exist_ok=True)
    ckpt_path = os.path.join(args.out, "checkpoint.npz")
    log_path = os.path.join(args.out, "log.txt")
    train_pairs, val_pairs = load_data(args)
    trainer = Trainer(args, train_pairs, val_pairs)
    if args.resume:
        if not os.path.exists(ckpt_path):
            raise TrainingError(f"--resume: no checkpoint at {ckpt_path}; run without --resume to start")
        trainer.load(ckpt_path)
        print(f"resumed from {ckpt_path} at step {trainer.step}")
        planned = checkpoint.load(ckpt_path)["args"].get("steps")
        if planned != args.steps and args.schedule == "cosine":
            print(f"warning: the run was planned for {planned} steps and its cosine schedule keeps that length; "
                  f"steps past {planned} train at the final rate", file=sys.stderr)
    elif os.path.exists(ckpt_path):
        raise TrainingError(f"{ckpt_path} exists: pass --resume to continue that run, or choose another --out "
                            "(nothing was overwritten)")
    n_params = trainer.model.num_parameters()
    header = (f"RCAN {trainer.model.config} ({n_params:,} parameters), {len(train_pairs)} training images, "
              f"{len(val_pairs)} validation images, {args.steps} steps of {args.batch_size} x "
              f"{args.patch_size}x{args.patch_size} patches, Adam lr {args.lr} ({args.schedule})")
    print(header)
    with open(log_path, "a") as log:
        log.write(header + "\n")
        elapsed = _train_loop(trainer, args, ckpt_path, log)
        if not trainer.last_rows or trainer.history["eval"][-1]["step"] != trainer.step:
            trainer.evaluate()
        rows = trainer.last_rows
        save_model(trainer.model, os.path.join(args.out, "model.npz"))
        plot_curves(trainer.history, float(np.mean([r["bicubic_psnr"] for r in rows])),
                    os.path.join(args.out, "curves.png"))
        plot_comparison(trainer.model, val_pairs, args.scale, os.path.join(args.out, "comparison.png"))
        summary = (f"\ntrained {trainer.step} steps in {elapsed:.0f} s this session; validation, Y channel, "
                   f"border {args.scale}:\n{results_table(rows)}\n\nwrote {args.out}/: model.npz, checkpoint.npz, "
                   "log.txt, curves.png, comparison.png")
        print(summary)
        log.write(summary + "\n")
    return trainer


def _train_loop(trainer: Trainer, args: argparse.Namespace, ckpt_path: str, log) -> float:
    """Steps until args.steps, evaluating and checkpointing every args.eval_every; returns the seconds spent.

    Ctrl-C saves a checkpoint and exits with status 130; a non-finite loss raises TrainingError before
    anything is saved, so the last good checkpoint stays.
    """
    bar = None
    if not args.no_progress:
        from tqdm import tqdm

        bar = tqdm(total=args.steps, initial=trainer.step, unit="step", dynamic_ncols=True, file=sys.stdout)
    say = bar.write if bar is not None else print
    t0 = time.perf_counter()
    try:
        while trainer.step < args.steps:
            loss = trainer.train_step()
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{loss:.2f}", lr=f"{trainer.optimizer.lr:.2e}", refresh=False)
            if trainer.step % args.eval_every == 0 or trainer.step == args.steps:
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
    args = parse_args(argv)
    try:
        run(args)
    except (TrainingError, ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
