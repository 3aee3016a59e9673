"""The Kodak reproduction run: every shipped ladder against JPEG, WebP, JPEG 2000 and AVIF measured in
the same run, the seed 002 decoder table, visual comparisons, and the README's results section."""
from __future__ import annotations

import math
import os

import numpy as np

from tfcomp import registry, zoo
from tfcomp.codecs.classic import PillowCodec
from tfcomp.codecs.learned import LearnedCodec
from tfcomp.data.images import read_image
from tfcomp.evaluation import metrics, plots
from tfcomp.evaluation.evaluate import evaluate
from tfcomp.evaluation.report import REPO, fmt, replace_section, results_markdown

VISUAL_IMAGES = ("kodim05", "kodim23")


def shipped_families() -> list[str]:
    """Every ladder in the zoo, in name order."""
    return sorted({m.get("family", m["architecture"]) for m in zoo.list_models()})


def _size_mb(path: str) -> float:
    return sum(os.path.getsize(os.path.join(root, f)) for root, _, files in os.walk(path) for f in files) / 1e6


def shipped_table(summary: dict) -> list[str]:
    """One row per shipped model: how it was trained and where it lands on Kodak in this run."""
    lines = ["", "### Shipped models", "",
             "| model | lambda | N | decoder | steps | wall time | warm start from | data | Kodak bpp | PSNR | MS-SSIM |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    total = 0.0
    for m in zoo.list_models():
        t, c = m["training"], m["config"]
        point = summary["codecs"].get(m["name"], {})
        total += t.get("wall_time_s", 0.0)
        default = " (default)" if m["name"] == zoo.default_model() else ""
        lines.append(f"| {m['name']}{default} | {c['lmbda']:g} | {c.get('num_filters', '')} | {c.get('decoder', '')} | "
                     f"{t['steps']:,} | {t['wall_time_s'] / 60:.0f} min | {t.get('init_from') or '-'} | "
                     f"{t['data']} | {fmt(point.get('bpp'), '.4f')} | {fmt(point.get('psnr'), '.2f')} | "
                     f"{fmt(point.get('ms_ssim'), '.4f')} |")
    lines += ["", f"Total training wall time of the shipped models: {total / 3600:.1f} h on "
                  f"{zoo.list_models()[0]['training']['device'] if zoo.list_models() else '-'}."]
    return lines


def decoder_table(summary: dict) -> list[str]:
    """Seed 002's table for our bls2017 models: per decoder variant and lambda, quality, rate, decode time."""
    rows = []
    for m in zoo.list_models():
        if m["architecture"] != "bls2017" or m["name"] not in summary["codecs"]:
            continue
        point = summary["codecs"][m["name"]]
        rows.append(dict(decoder=m["config"]["decoder"], lmbda=m["config"]["lmbda"], name=m["name"],
                         params=m["parameters"]["synthesis"], size=_size_mb(m["path"]), bpp=point["bpp"],
                         psnr=point["psnr"], decode=point.get("timing", {}).get("decode", math.nan)))
    baseline = {r["lmbda"]: r for r in rows if r["decoder"] == "baseline"}
    lines = ["", "### Lighter decoders (seed 002)", "",
             "| decoder | lambda | model | decoder params | SavedModel MB | bpp | PSNR | decode s (median) "
             "| dPSNR vs baseline | decode time vs baseline |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: (r["decoder"] != "baseline", r["decoder"], r["lmbda"])):
        base = baseline.get(r["lmbda"])
        delta = r["psnr"] - base["psnr"] if base else math.nan
        ratio = r["decode"] / base["decode"] if base else math.nan
        lines.append(f"| {r['decoder']} | {r['lmbda']:g} | {r['name']} | {r['params']:,} | {r['size']:.2f} | "
                     f"{r['bpp']:.4f} | {r['psnr']:.2f} | {fmt(r['decode'], '.3f')} | {fmt(delta, '+.2f')} | "
                     f"{fmt(ratio, '.2f')}x |")
    if not any(r["decoder"] != "baseline" for r in rows):
        lines += ["", "No lighter-decoder models are shipped yet: only the baseline row is measured."]
    return lines


def visual_comparisons(image_paths: list[str], out_dir: str) -> list[str]:
    """Side-by-side crops at matched size (original, default model, JPEG, WebP) for a few images."""
    codec = LearnedCodec(zoo.resolve(None))
    lines = ["", "### Visual comparison at matched file size", ""]
    for path in image_paths:
        stem = os.path.splitext(os.path.basename(path))[0]
        if stem not in VISUAL_IMAGES:
            continue
        image, _, _ = read_image(path)
        data = codec.encode(image)
        height, width = image.shape[:2]
        panels = [("original", image), (_label(codec.name, data, image, codec.decode(data)), codec.decode(data))]
        for family in ("jpeg", "webp"):
            classic, classic_data = PillowCodec.at_least(family, image, len(data))
            decoded = classic.decode(classic_data)
            panels.append((_label(classic.name, classic_data, image, decoded), decoded))
        target = os.path.join(out_dir, f"visual_{stem}.png")
        plots.side_by_side(panels, target, (height // 2 - 128, width // 2 - 128, 256))
        lines.append(f"![{stem}]({os.path.relpath(target, REPO)})")
    return lines


def _label(name: str, data: bytes, original: np.ndarray, decoded: np.ndarray) -> str:
    bpp = metrics.bits_per_pixel(len(data), *original.shape[:2])
    return f"{name}\n{len(data)} B, {bpp:.3f} bpp, {metrics.psnr(original, decoded):.2f} dB"


def reproduce(image_paths: list[str], out_dir: str, readme: str | None, timing_images: int = 2,
              warmup: int = 2, repeats: int = 5) -> dict:
    """Runs everything and rewrites the README's results section (unless readme is None)."""
    os.makedirs(out_dir, exist_ok=True)
    families = shipped_families() + list(registry.CLASSIC_FAMILIES)
    summary = evaluate(families, image_paths, out_dir, timing_images, warmup, repeats)
    extra = shipped_table(summary) + decoder_table(summary) + visual_comparisons(image_paths, out_dir)
    if readme:
        replace_section(readme, results_markdown(summary, out_dir, extra))
    return summary
