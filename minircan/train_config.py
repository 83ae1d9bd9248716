"""``TrainConfig``: every setting of a training run in one typed object, and the named recipes.

    from minircan.train_config import TrainConfig
    cfg = TrainConfig.preset("tiny")                      # what ``python -m minircan.train --tiny`` trains
    cfg = TrainConfig.preset("tiny", steps=300, lr=2e-3)  # the same recipe with two settings changed
    cfg.lr, cfg.steps, cfg.model_kwargs()                 # read the recipe instead of retyping it

The command line (``minircan.train.parse_args``) builds one of these; notebooks, tests and the course's
task 7 import it, so a setting has one home. ``PRESETS`` holds the recipes: ``tiny`` and ``small`` were
settled by measuring the PSNR gained in a few CPU minutes (see the README), ``paper`` is the paper's
(Adam lr 1e-4 halved every 2x10^5 steps, batch 16, 48x48 LR patches).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

from .backends import CONV_ALGORITHMS
from .models.rcan import CONFIGS

SCHEDULES = ("cosine", "step", "constant")
DEGRADATIONS = ("BI", "BD")
SCALES = (2, 3, 4, 8)

# The recipe of each model size; any TrainConfig field not named here keeps the dataclass default.
PRESETS: dict[str, dict] = {
    "tiny": dict(config="tiny", lr=3e-3, schedule="cosine", steps=4000, batch_size=8, patch_size=20, eval_every=500),
    "small": dict(config="small", lr=1e-3, schedule="cosine", steps=3000, eval_every=500),
    "paper": dict(config="paper", lr=1e-4, schedule="step", lr_step=200_000, steps=1_000_000, eval_every=1000),
}


@dataclass
class TrainConfig:
    """One training run's settings. Build it with ``TrainConfig.preset(name, **changes)``."""

    config: str = "tiny"            # RCAN size: a key of minircan.models.CONFIGS
    scale: int = 2                  # upscaling factor
    resgroups: int | None = None    # G, residual groups (None: the size's own)
    resblocks: int | None = None    # B, RCABs per group
    feats: int | None = None        # C, feature channels
    reduction: int | None = None    # r, channel-attention reduction
    degradation: str = "BI"         # BI (bicubic) or BD (blur, then downsample)
    data: str | None = None         # a DIV2K folder; None: the bundled sample photographs
    steps: int = 2000               # training iterations, one batch each
    batch_size: int = 16
    patch_size: int = 48            # LR patch side; the HR patch is scale times it
    lr: float = 4e-3                # Adam's learning rate
    schedule: str = "cosine"        # cosine (to lr/100), step (halve every lr_step) or constant
    lr_step: int | None = None
    eval_every: int = 250           # evaluate and checkpoint every N steps
    seed: int = 0
    out: str | None = None          # output folder; None: runs/<config>-x<scale>
    init_from: str | None = None    # start from these weights (.npz or official .pt)
    device: str = "cpu"             # cpu, cuda or auto
    conv_algorithm: str = "auto"    # how convolutions are computed: auto, im2col or winograd (minircan.backends)

    @classmethod
    def preset(cls, name: str, **changes) -> TrainConfig:
        """The named recipe (``tiny``, ``small``, ``paper``) with ``changes`` applied, validated."""
        if name not in PRESETS:
            raise ValueError(f"no training preset {name!r}; choose one of {', '.join(sorted(PRESETS))}")
        unknown = set(changes) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise TypeError(f"TrainConfig has no setting {', '.join(sorted(unknown))}")
        return cls(**{**PRESETS[name], **changes}).validated()

    def replace(self, **changes) -> TrainConfig:
        """A copy with ``changes`` applied, validated (the dataclass itself is left as it was)."""
        return dataclasses.replace(self, **changes).validated()

    def validated(self) -> TrainConfig:
        """Raise ValueError naming the first bad setting and its fix; fill in the derived defaults."""
        if self.config not in CONFIGS:
            raise ValueError(f"unknown RCAN size {self.config!r}; choose one of {', '.join(sorted(CONFIGS))}")
        if self.scale not in SCALES:
            raise ValueError(f"scale {self.scale} is not supported; choose one of {', '.join(map(str, SCALES))}")
        if self.degradation not in DEGRADATIONS:
            raise ValueError(f"degradation {self.degradation!r}: choose BI or BD")
        if self.conv_algorithm not in CONV_ALGORITHMS:
            raise ValueError(f"conv algorithm {self.conv_algorithm!r}: choose one of {', '.join(CONV_ALGORITHMS)}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule {self.schedule!r}: choose one of {', '.join(SCHEDULES)}")
        for name in ("steps", "batch_size", "patch_size", "eval_every", "resgroups", "resblocks", "feats",
                     "reduction", "lr_step"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"{name.replace('_', '-')} must be a whole number >= 1, got {value!r}")
        if not self.lr > 0:
            raise ValueError(f"the learning rate must be > 0, got {self.lr!r}")
        if self.schedule == "step" and self.lr_step is None:
            raise ValueError("the step schedule needs lr_step (halve the learning rate every N steps)")
        if self.out is None:
            self.out = os.path.join("runs", f"{self.config}-x{self.scale}")
        return self

    def model_kwargs(self) -> dict:
        """The ``RCAN(**kwargs)`` of this run: the size's configuration, the scale, and any overrides."""
        kwargs = dict(CONFIGS[self.config], scale=self.scale)
        for field, key in (("resgroups", "n_resgroups"), ("resblocks", "n_resblocks"), ("feats", "n_feats"),
                           ("reduction", "reduction")):
            if getattr(self, field) is not None:
                kwargs[key] = getattr(self, field)
        return kwargs

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)
