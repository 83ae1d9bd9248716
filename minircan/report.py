"""The report of a training run: the per-image results table and the pictures (loss and PSNR curves,
bicubic | minircan | ground truth).

    from minircan.report import results_table, plot_curves, plot_comparison
    print(results_table(trainer.last_rows))
"""

from __future__ import annotations

import numpy as np

from .inference import bicubic, super_resolve
from .metrics import psnr


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
