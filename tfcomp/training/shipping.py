"""Keeping a long run's best weights shipped: each checkpoint of a variable-rate model is coded at every level
on the validation images (real files), and replaces the shipped model only when its curve beats the shipped
one's by a BD-rate margin. Every checkpoint's points, Kodak's too, are kept in the run's log and in the
shipped model's metadata."""
from __future__ import annotations

import json
import os
import shutil
import time

import numpy as np

from tfcomp.codecs.learned import LearnedCodec
from tfcomp.data.images import read_image
from tfcomp.errors import run_program
from tfcomp.evaluation import bdrate, metrics
from tfcomp.training.saving import read_metadata, write_metadata

# A new version ships only if it needs at least this much less rate (BD-rate, PSNR) on the validation images.
SHIP_MARGIN_PERCENT = 2.0
CHECKPOINTS_LOG = "checkpoints.json"


def rd_curve(model_dir: str, image_paths: list[str]) -> list[dict]:
    """Mean bpp (real file sizes), PSNR and MS-SSIM over the images at each integer quality of a
    variable-rate model, lowest quality first."""
    images = [read_image(path)[0] for path in image_paths]
    codec = LearnedCodec(model_dir)
    low, high = codec.quality_range
    curve = []
    for quality in range(int(low), int(high) + 1):
        codec.set_quality(quality)
        rows = []
        for image in images:
            data = codec.encode(image)
            decoded = codec.decode(data)
            rows.append((metrics.bits_per_pixel(len(data), *image.shape[:2]), metrics.psnr(image, decoded),
                         metrics.ms_ssim(image, decoded)))
        bpp, psnr, ms_ssim = np.mean(rows, axis=0)
        curve.append({"quality": quality, "bpp": round(float(bpp), 5), "psnr": round(float(psnr), 4),
                      "ms_ssim": round(float(ms_ssim), 5)})
    return curve


def bd_rate(reference: list[dict], test: list[dict]) -> float:
    """BD-rate (%, PSNR) of one curve against another; negative when `test` needs fewer bits."""
    return bdrate.bd_rate([p["bpp"] for p in reference], [p["psnr"] for p in reference],
                          [p["bpp"] for p in test], [p["psnr"] for p in test])


def evaluate_checkpoint(candidate_dir: str, validation: list[str], kodak: list[str]) -> dict:
    """The checkpoint record: training progress from the candidate's metadata, and its validation and
    Kodak curves."""
    training = read_metadata(candidate_dir)["training"]
    start = time.time()
    record = {"workdir": training["workdir"], "steps": training["steps"], "wall_time_s": training["wall_time_s"],
              "total_steps": sum(stage["steps"] for stage in training["history"]),
              "total_wall_time_s": round(sum(stage["wall_time_s"] for stage in training["history"]), 1),
              "validation": rd_curve(candidate_dir, validation), "kodak": rd_curve(candidate_dir, kodak)}
    record["evaluation_s"] = round(time.time() - start, 1)
    return record


def append_log(workdir: str, record: dict) -> list[dict]:
    """Adds a checkpoint record to the run's log (atomically) and returns the whole log."""
    os.makedirs(workdir, exist_ok=True)
    path = os.path.join(workdir, CHECKPOINTS_LOG)
    log = json.load(open(path)) if os.path.exists(path) else []
    log.append(record)
    with open(path + ".tmp", "w") as f:
        json.dump(log, f, indent=1)
    os.replace(path + ".tmp", path)
    return log


def ship_if_better(candidate_dir: str, shipped_dir: str, record: dict, log: list[dict],
                   validation_images: str) -> tuple[bool, float | None]:
    """Copies the candidate over the shipped model of the same name when it gains SHIP_MARGIN_PERCENT on the
    validation images (or nothing is shipped yet); returns (shipped, BD-rate against the shipped curve)."""
    shipped_curve = None
    if os.path.exists(os.path.join(shipped_dir, "metadata.json")):
        shipped_curve = read_metadata(shipped_dir).get("validation", {}).get("curve")
    gain = None if shipped_curve is None else bd_rate(shipped_curve, record["validation"])
    record["bd_rate_vs_shipped"] = gain
    if gain is not None and not gain <= -SHIP_MARGIN_PERCENT:
        return False, gain
    metadata = read_metadata(candidate_dir)
    metadata["validation"] = {"images": validation_images, "curve": record["validation"]}
    metadata["kodak_curve"] = record["kodak"]
    metadata["checkpoints"] = log
    write_metadata(candidate_dir, metadata)
    previous = shipped_dir.rstrip("/") + ".previous"
    shutil.rmtree(previous, ignore_errors=True)
    if os.path.exists(shipped_dir):
        os.replace(shipped_dir, previous)
    shutil.copytree(candidate_dir, shipped_dir)
    shutil.rmtree(previous, ignore_errors=True)
    return True, gain


def main() -> None:
    """Evaluates an exported checkpoint and ships it if it is better (scripts/train_product.sh ship)."""
    import argparse

    from tfcomp.data.pipeline import list_images

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("candidate", help="SavedModel exported from the run's latest checkpoint")
    parser.add_argument("shipped", help="the shipped model directory it may replace (same name)")
    parser.add_argument("workdir", help="the run's work directory (its checkpoint log is kept there)")
    parser.add_argument("--validation", required=True, help="validation image folder")
    parser.add_argument("--validation-images", type=int, default=24, help="the first N validation images")
    parser.add_argument("--kodak", required=True, help="Kodak folder (recorded, never used to decide)")
    args = parser.parse_args()
    validation = list_images(args.validation)[:args.validation_images]
    record = evaluate_checkpoint(args.candidate, validation, list_images(args.kodak))
    log = append_log(args.workdir, record)
    shipped, gain = ship_if_better(args.candidate, args.shipped, record, log,
                                   f"{args.validation} (first {len(validation)})")
    log[-1] = record  # now with its BD-rate against the shipped curve
    with open(os.path.join(args.workdir, CHECKPOINTS_LOG), "w") as f:
        json.dump(log, f, indent=1)
    verdict = "shipped" if shipped else "kept the shipped model"
    against = "nothing shipped before" if gain is None else f"BD-rate vs shipped {gain:+.2f}%"
    print(f"step {record['total_steps']}: {against}; {verdict} "
          f"(validation {record['validation'][0]['bpp']:.3f}..{record['validation'][-1]['bpp']:.3f} bpp)")


if __name__ == "__main__":
    run_program(main)
