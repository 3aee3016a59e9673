"""Seed 001's tables for shipped slimmable models: per width quality, rate and decode time, MS-SSIM
histograms per width, and a grid of one image's reconstructions at every width."""
from __future__ import annotations

import csv
import os


from tfcomp import zoo
from tfcomp.codecs.learned import rate_points
from tfcomp.data.images import read_image
from tfcomp.evaluation import metrics, plots
from tfcomp.evaluation.report import REPO, fmt

GRID_IMAGE = "kodim23"


def slimmable_models() -> list[dict]:
    """Metadata of the shipped models with switchable widths."""
    return [m for m in zoo.list_models() if m["config"].get("widths")]


def slimcae_section(summary: dict, image_paths: list[str], out_dir: str) -> list[str]:
    """Markdown for every shipped slimmable model (nothing when none is shipped)."""
    lines = []
    for model in slimmable_models():
        codecs = rate_points(model)[::-1]  # widest first, as seed 001 lists them
        lines += ["", f"### SlimCAE `{model['name']}` (seed 001), per width", "",
                  "| width | rate point | bpp | MSE | PSNR | MS-SSIM | decode s (median) | decode time vs widest |",
                  "|---|---|---|---|---|---|---|---|"]
        widest = summary["codecs"].get(codecs[0].name, {}).get("timing", {}).get("decode")
        for codec in codecs:
            p = summary["codecs"].get(codec.name)
            if p is None:
                continue
            decode = p.get("timing", {}).get("decode")
            ratio = decode / widest if decode and widest else None
            lines.append(f"| {codec.widths[codec.width_index]} | {codec.name} | {p['bpp']:.4f} | {p['mse']:.2f} | "
                         f"{p['psnr']:.2f} | {p['ms_ssim']:.4f} | {fmt(decode, '.3f')} | {fmt(ratio, '.2f')}x |")
        histogram = os.path.join(out_dir, f"ms_ssim_{model['name']}.png")
        plots.histograms(_per_image(out_dir, "ms_ssim", [c.name for c in codecs]), histogram, "MS-SSIM")
        lines += ["", f"![MS-SSIM per width]({os.path.relpath(histogram, REPO)})"]
        lines += _width_grid(codecs, image_paths, out_dir, model["name"])
    return lines


def _per_image(out_dir: str, key: str, names: list[str]) -> dict[str, list[float]]:
    """Per-image values of one metric for the named rate points, from the run's per_image.csv."""
    values = {name: [] for name in names}
    with open(os.path.join(out_dir, "per_image.csv")) as f:
        for row in csv.DictReader(f):
            if row["codec"] in values:
                values[row["codec"]].append(float(row[key]))
    return values


def _width_grid(codecs: list, image_paths: list[str], out_dir: str, name: str) -> list[str]:
    """One image reconstructed at every width, side by side with the original."""
    path = next((p for p in image_paths if os.path.basename(p).startswith(GRID_IMAGE)), None)
    if path is None:
        return []
    image, _, _ = read_image(path)
    panels = [("original", image)]
    for codec in codecs:
        data = codec.encode(image)
        decoded = codec.decode(data)
        bpp = metrics.bits_per_pixel(len(data), *image.shape[:2])
        panels.append((f"width {codec.widths[codec.width_index]}\n{bpp:.3f} bpp, "
                       f"{metrics.psnr(image, decoded):.2f} dB", decoded))
    target = os.path.join(out_dir, f"widths_{name}.png")
    height, width = image.shape[:2]
    plots.side_by_side(panels, target, (height // 2 - 128, width // 2 - 128, 256))
    return ["", f"![{name} at every width]({os.path.relpath(target, REPO)})"]
