"""Rate-distortion evaluation of any registered codecs over a folder of images.

Files are written to disk, decoded again in a separate process (as a user's `tfcomp decompress`
would), checked against in-process decoding, and measured: per-image CSV, a summary JSON with
curves, BD-rates against every classic codec measured in the same run, timings, and an RD plot.
"""
from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import subprocess
import sys

import numpy as np
from tqdm import tqdm

from tfcomp import registry
from tfcomp.data.images import read_image
from tfcomp.evaluation import bdrate, metrics
from tfcomp.evaluation.timing import time_stages
from tfcomp.report import relative

ROW_FIELDS = ("image", "codec", "family", "bytes", "bpp", "mse", "psnr", "ssim", "ms_ssim",
              "identical_across_processes")
QUALITY_KEYS = ("psnr", "ms_ssim_db")


def ms_ssim_db(value: float) -> float:
    """MS-SSIM on a decibel scale, -10 log10(1 - MS-SSIM): where BD fits behave."""
    return -10 * math.log10(max(1e-10, 1 - value))


def _digest(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def decode_in_subprocess(jobs: list[dict], jobs_path: str) -> None:
    """Decodes every {codec, file, output} job in a fresh Python process (tfcomp.evaluation.decode_worker)."""
    with open(jobs_path, "w") as f:
        json.dump(jobs, f)
    subprocess.run([sys.executable, "-m", "tfcomp.evaluation.decode_worker", jobs_path], check=True)


def evaluate(families: list[str], image_paths: list[str], out_dir: str, timing_images: int = 1,
             warmup: int = 2, repeats: int = 5, separate_process: bool = True, progress: bool = True) -> dict:
    """Runs the whole evaluation and writes per_image.csv, summary.json and rd.png under out_dir."""
    codecs = [c for family in families for c in registry.codec_family(family)]
    files_dir = os.path.join(out_dir, "files")
    os.makedirs(files_dir, exist_ok=True)
    rows, jobs, timings = [], [], {}
    bar = tqdm(total=len(image_paths) * len(codecs), desc="encode", unit="file", disable=not progress)
    for index, path in enumerate(image_paths):
        image, _, _ = read_image(path)
        stem = os.path.splitext(os.path.basename(path))[0]
        for codec in codecs:
            data = codec.encode(image)
            file_path = os.path.join(files_dir, f"{stem}.{codec.name}.bin")
            with open(file_path, "wb") as f:
                f.write(data)
            decoded = codec.decode(data)
            rows.append({"image": stem, "codec": codec.name, "family": codec.family, "bytes": len(data),
                         "bpp": metrics.bits_per_pixel(len(data), *image.shape[:2]),
                         "_source": path, "_inprocess": _digest(decoded), "_decoded": decoded})
            jobs.append({"codec": codec.name, "file": file_path, "output": file_path + ".png"})
            if index < timing_images:
                timings.setdefault(codec.name, []).append(
                    time_stages(codec.stages(image, data), warmup, repeats))
            bar.update()
    bar.close()
    if separate_process:
        for row in rows:
            del row["_decoded"]
        decode_in_subprocess(jobs, os.path.join(out_dir, "decode_jobs.json"))
    originals: dict[str, np.ndarray] = {}
    for row, job in tqdm(list(zip(rows, jobs)), desc="measure", unit="file", disable=not progress):
        if row["_source"] not in originals:
            originals = {row["_source"]: read_image(row["_source"])[0]}
        original = originals[row["_source"]]
        decoded = read_image(job["output"])[0] if separate_process else row.pop("_decoded")
        row["identical_across_processes"] = (_digest(decoded) == row["_inprocess"]) if separate_process else ""
        ssim, ms_ssim = metrics.ssim_and_ms_ssim(original, decoded)
        row.update(mse=metrics.mse(original, decoded), psnr=metrics.psnr(original, decoded), ssim=ssim,
                   ms_ssim=ms_ssim)
    summary = summarize(rows, timings)
    summary.update(images=len(image_paths), image_dir=relative(os.path.dirname(image_paths[0])),
                   decoded_in_separate_process=separate_process)
    write_outputs(rows, summary, out_dir)
    return summary


def summarize(rows: list[dict], timings: dict) -> dict:
    """Per-codec means, per-family curves, BD-rates against classic codecs, and median timings."""
    points = {}
    for row in rows:
        points.setdefault(row["codec"], []).append(row)
    codecs = {}
    for name, group in points.items():
        mean = {k: float(np.mean([r[k] for r in group])) for k in ("bpp", "mse", "psnr", "ssim", "ms_ssim")}
        mean["ms_ssim_db"] = ms_ssim_db(mean["ms_ssim"])
        mean["family"] = group[0]["family"]
        mean["identical_across_processes"] = all(r["identical_across_processes"] in (True, "") for r in group)
        if name in timings:
            mean["timing"] = {stage: float(np.median([t[stage]["median_s"] for t in timings[name]]))
                              for stage in timings[name][0]}
        codecs[name] = mean
    curves = {}
    for name, point in codecs.items():
        curves.setdefault(point["family"], []).append(dict(point, codec=name))
    for family in curves:
        curves[family].sort(key=lambda p: p["bpp"])
    return {"codecs": codecs, "curves": curves, "bd_rate": bd_table(curves),
            "psnr_gain_vs_jpeg": bdrate.gains_vs(curves, "jpeg")}


def _curve(points: list[dict], key: str) -> tuple[list[float], list[float]]:
    return [p["bpp"] for p in points], [p[key] for p in points]


def bd_table(curves: dict) -> dict:
    """BD-rate (%) of every learned family against every classic codec and every other learned ladder
    of three or more rungs, PSNR and MS-SSIM (dB)."""
    learned = [f for f, points in curves.items() if f not in registry.CLASSIC_FAMILIES and len(points) >= 2]
    anchors = [f for f in registry.CLASSIC_FAMILIES if f in curves] + \
              [f for f in learned if len(curves[f]) >= 3]
    table = {}
    for family in learned:
        points = curves[family]
        for anchor in anchors:
            if anchor != family:
                table.setdefault(family, {})[anchor] = {key: _bd_rate(curves[anchor], points, key)
                                                        for key in QUALITY_KEYS}
    return table


def _bd_rate(reference: list[dict], test: list[dict], key: str) -> float:
    """BD-rate (%) on one quality key; NaN unless both curves rise with rate."""
    if not (_rises(reference, key) and _rises(test, key)):
        return math.nan
    return bdrate.bd_rate(*_curve(reference, key), *_curve(test, key))


def _rises(points: list[dict], key: str, step: float = 0.01) -> bool:
    """Whether quality (dB) rises with rate from point to point: a curve that saturates (e.g. an
    undertrained model whose finer quantization adds bytes and no quality) has no meaningful BD-rate."""
    ordered = sorted(points, key=lambda p: p["bpp"])
    return all(b[key] - a[key] > step for a, b in zip(ordered, ordered[1:]))


def write_outputs(rows: list[dict], summary: dict, out_dir: str) -> None:
    """per_image.csv, summary.json and the plots."""
    with open(os.path.join(out_dir, "per_image.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=ROW_FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    write_summary(summary, out_dir)
    plot_curves(summary, out_dir)


def plot_curves(summary: dict, out_dir: str) -> None:
    """rd.png, and rd_decoders.png for the decoder variants beside their ladder."""
    from tfcomp.evaluation import plots

    curves = summary["curves"]
    variants = variant_families(curves)
    plots.rd_plot({f: p for f, p in curves.items() if f not in variants}, os.path.join(out_dir, "rd.png"))
    if variants:
        bases = {f for f in curves if any(v.startswith(f + "-") for v in variants)}
        plots.rd_plot({f: p for f, p in curves.items() if f in variants | bases},
                      os.path.join(out_dir, "rd_decoders.png"), anchors=False)


def write_summary(summary: dict, out_dir: str) -> None:
    """summary.json: the run's record, written atomically."""
    path = os.path.join(out_dir, "summary.json")
    with open(path + ".tmp", "w") as f:
        json.dump(summary, f, indent=2, sort_keys=True, default=float)
    os.replace(path + ".tmp", path)


def variant_families(curves: dict) -> set[str]:
    """Measured families of the decoder-variant study beside the bls2017 ladder: lighter decoders (e.g.
    'bls2017-K3x3') and models of another width (e.g. 'bls2017-n192')."""
    return {family for family in curves if family.startswith("bls2017-")}
