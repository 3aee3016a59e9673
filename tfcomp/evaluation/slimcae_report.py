"""The slimmable models (SlimCAE) in the reproduction run: per width, quality, rate and decode time; MS-SSIM
histograms per width; one image reconstructed at every width."""
from __future__ import annotations

import csv
import os

from tfcomp import zoo
from tfcomp.codecs.learned import rate_points
from tfcomp.data.images import read_image
from tfcomp.evaluation import metrics, plots
from tfcomp.report import fmt, table

GRID_IMAGE = "kodim23"


def slimmable_figures(image_paths: list[str], out_dir: str) -> dict:
    """Draws the figures of every shipped slimmable model; returns what the tables need: per model, its rate
    points widest first, their widths, and the figures' file names (in out_dir)."""
    record = {}
    for model in (m for m in zoo.list_models() if m["config"].get("widths")):
        codecs = rate_points(model)[::-1]  # widest first, as the SlimCAE paper lists them
        histogram = f"ms_ssim_{model['name']}.png"
        plots.histograms(_per_image(out_dir, "ms_ssim", [c.name for c in codecs]),
                         os.path.join(out_dir, histogram), "MS-SSIM")
        record[model["name"]] = dict(points=[c.name for c in codecs], widths=[c.widths[c.width_index] for c in codecs],
                                     histogram=histogram, grid=_width_grid(codecs, image_paths, out_dir, model["name"]))
    return record


def slimmable_tables(summary: dict, folder: str) -> list[str]:
    """Markdown per slimmable model of the run's record (folder: where its figures are, from the document)."""
    lines = []
    for name, model in sorted(summary["report"].get("slimcae", {}).items()):
        points = [summary["codecs"].get(point) for point in model["points"]]
        widest = (points[0] or {}).get("timing", {}).get("decode")
        rows = []
        for width, point_name, p in zip(model["widths"], model["points"], points):
            if p is None:
                continue
            decode = p.get("timing", {}).get("decode")
            ratio = decode / widest if decode and widest else None
            rows.append([width, point_name, f"{p['bpp']:.4f}", f"{p['mse']:.2f}", f"{p['psnr']:.2f}",
                         f"{p['ms_ssim']:.4f}", fmt(decode, ".3f"), f"{fmt(ratio, '.2f')}x"])
        lines += ["", f"### `{name}`, per width", ""]
        lines += table(["width", "rate point", "bpp", "MSE", "PSNR", "MS-SSIM", "decode s (median)",
                        "decode time vs widest"], rows)
        lines += ["", f"![MS-SSIM per width]({folder}/{model['histogram']})"]
        if model.get("grid"):
            lines += ["", f"![{name} at every width]({folder}/{model['grid']})"]
    return lines


def _per_image(out_dir: str, key: str, names: list[str]) -> dict[str, list[float]]:
    """Per-image values of one metric for the named rate points, from the run's per_image.csv."""
    values = {name: [] for name in names}
    with open(os.path.join(out_dir, "per_image.csv")) as f:
        for row in csv.DictReader(f):
            if row["codec"] in values:
                values[row["codec"]].append(float(row[key]))
    return values


def _width_grid(codecs: list, image_paths: list[str], out_dir: str, name: str) -> str | None:
    """One image reconstructed at every width, beside the original; the figure's file name."""
    path = next((p for p in image_paths if os.path.basename(p).startswith(GRID_IMAGE)), None)
    if path is None:
        return None
    image, _, _ = read_image(path)
    panels = [("original", image)]
    for codec in codecs:
        data = codec.encode(image)
        decoded = codec.decode(data)
        bpp = metrics.bits_per_pixel(len(data), *image.shape[:2])
        panels.append((f"width {codec.widths[codec.width_index]}\n{bpp:.3f} bpp, "
                       f"{metrics.psnr(image, decoded):.2f} dB", decoded))
    target = f"widths_{name}.png"
    height, width = image.shape[:2]
    plots.side_by_side(panels, os.path.join(out_dir, target), (height // 2 - 128, width // 2 - 128, 256))
    return target
