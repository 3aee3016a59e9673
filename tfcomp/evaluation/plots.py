"""RD plots (PSNR and MS-SSIM vs bpp) with the published Kodak anchors, and side-by-side crops."""
from __future__ import annotations

import json
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

CLASSIC = ("jpeg", "webp", "jpeg2000", "avif")
ANCHORS = os.path.join(os.path.dirname(os.path.dirname(__file__)), "reference", "kodak_anchors.json")
# The anchors worth drawing next to our curves; the rest of the file is tables and notes.
ANCHOR_CURVES = ("JPEG (Pillow, CompressAI sweep)", "WebP (Pillow, CompressAI sweep)",
                 "JPEG2000 (OpenJPEG via ffmpeg, CompressAI sweep)", "BPG 4:4:4 (x265)", "VTM (VVC intra)",
                 "bmshj2018-factorized-mse (CompressAI, converged, N=128/192)",
                 "bmshj2018-hyperprior-mse (CompressAI)")


def load_anchors(path: str = ANCHORS) -> dict:
    """Published curves: name -> {'bpp': [...], 'psnr': [...], 'ms_ssim': [...]?}."""
    with open(path) as f:
        data = json.load(f)
    return {name: data[name] for name in ANCHOR_CURVES if name in data}


def rd_plot(curves: dict, path: str, anchors: bool = True, max_bpp: float = 2.0) -> None:
    """Two panels, PSNR and MS-SSIM against bpp: measured curves solid, published anchors dashed.

    Each curve keeps one colour in both panels; one legend below them.
    """
    published = load_anchors() if anchors else {}
    names = [f"{n} [published]" for n in published] + [f"{f} (measured)" for f in curves]
    colours = dict(zip(names, plt.cm.tab20(np.linspace(0, 1, 20))[:len(names)]))
    learned = [family for family in curves if family not in CLASSIC]
    if len(learned) == 1:  # a single learned curve stands out in black
        colours[f"{learned[0]} (measured)"] = "black"
    fig, axes = plt.subplots(1, 2, figsize=(13, 6.5), layout="constrained")
    for ax, key, label in ((axes[0], "psnr", "PSNR (dB)"), (axes[1], "ms_ssim", "MS-SSIM")):
        for name, curve in published.items():
            if key in curve:
                bpp = np.asarray(curve["bpp"])
                keep = bpp <= max_bpp
                ax.plot(bpp[keep], np.asarray(curve[key])[keep], "--", lw=1, alpha=0.7,
                        color=colours[f"{name} [published]"], label=f"{name} [published]")
        for family, points in curves.items():
            shown = [p for p in points if p["bpp"] <= max_bpp]
            classic = family in CLASSIC
            ax.plot([p["bpp"] for p in shown], [p[key] for p in shown], "o-", lw=1.2 if classic else 2.5,
                    ms=3 if classic else 6, color=colours[f"{family} (measured)"], label=f"{family} (measured)")
        ax.set_xlabel("bits per pixel")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=3, fontsize=8)
    fig.suptitle("Rate-distortion on Kodak (mean over images)")
    fig.savefig(path, dpi=110)
    plt.close(fig)


def side_by_side(panels: list[tuple[str, np.ndarray]], path: str, crop: tuple[int, int, int] | None = None) -> None:
    """Saves a row of labelled image crops (y, x, size) for visual comparison."""
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 4.8), layout="constrained")
    for ax, (title, image) in zip(np.atleast_1d(axes), panels):
        if crop:
            y, x, size = crop
            image = image[y:y + size, x:x + size]
        ax.imshow(image, interpolation="nearest")
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    fig.savefig(path, dpi=110)
    plt.close(fig)


def histograms(values: dict[str, list[float]], path: str, label: str) -> None:
    """One histogram per named series on shared bins (e.g. per-image MS-SSIM of each width)."""
    series = {name: v for name, v in values.items() if v}
    everything = np.concatenate([np.asarray(v) for v in series.values()]) if series else np.zeros(1)
    bins = np.linspace(everything.min(), everything.max() + 1e-9, 21)
    fig, ax = plt.subplots(figsize=(8, 4.5), layout="constrained")
    for name, v in series.items():
        ax.hist(v, bins=bins, histtype="step", lw=2, label=f"{name} (mean {np.mean(v):.4f})")
    ax.set_xlabel(label)
    ax.set_ylabel("images")
    ax.legend(fontsize=8)
    fig.savefig(path, dpi=110)
    plt.close(fig)
