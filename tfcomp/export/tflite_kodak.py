"""Exports every shipped model's decoder (every width of slimmable ones) to TFLite in all four modes and
checks each file on the Kodak images against the model's own TF decoder.

Writes the .tflite files and their JSON to --out, and the check to results/deployment/tflite_kodak.{json,md}:
per model and mode, the largest pixel difference from the TF decoder over all images (both rounded to
integers), mean PSNR, its change against the TF decoder, file size and operators.

    .venv/bin/python -m tfcomp.export.tflite_kodak [--models NAME,...] [--out build/tflite] [--limit N]

With --models, the rows of those models replace theirs in the existing results (after retraining a few
models); the other rows stay, those of models no longer shipped too (their numbers remain the measured ones).
Each row records the SavedModel hash it measured. A study model that is not shipped is measured with
TFCOMP_MODELS pointing at its folder (runs/study).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
from tqdm import tqdm


from tfcomp import report, zoo
from tfcomp.codecs.learned import LearnedCodec, rate_points
from tfcomp.data.images import read_image
from tfcomp.data.kodak import kodak_images
from tfcomp.errors import TfcompError, run_program
from tfcomp.evaluation.metrics import psnr
from tfcomp.export import tflite, tflite_export

RESULTS = os.path.join("results", "deployment")
PROGRAM = "python -m tfcomp.export.tflite_kodak"


def check_model(point: LearnedCodec, images: list[np.ndarray], out_dir: str) -> dict:
    """Exports one rate point in every mode and measures each file on the images."""
    exported = tflite_export.ExportedModel(point.path, point.width_index)
    manifest = tflite_export.write(exported, out_dir)
    decoders = {mode: tflite.Decoder(open(os.path.join(out_dir, entry["file"]), "rb").read())
                for mode, entry in manifest["files"].items()}
    worst = {mode: 0.0 for mode in decoders}
    quality = {mode: [] for mode in ("tf", *decoders)}
    for image in images:
        h, w = image.shape[:2]
        symbols = exported.symbols(image)
        reference = np.round(exported.reference(symbols))[0, :h, :w]
        quality["tf"].append(psnr(image, reference.astype(np.uint8)))
        for mode, decode in decoders.items():
            pixels = np.clip(np.round(decode(symbols)), 0, 255)[0, :h, :w]
            worst[mode] = max(worst[mode], float(np.abs(pixels - reference).max()))
            quality[mode].append(psnr(image, pixels.astype(np.uint8)))
    tf_psnr = float(np.mean(quality["tf"]))
    return {
        "name": manifest["name"], "savedmodel_sha256": point.metadata["savedmodel_sha256"],
        "tf_psnr": tf_psnr,
        "modes": {mode: {"max_pixel_difference": worst[mode], "psnr": float(np.mean(quality[mode])),
                         "delta_psnr": float(np.mean(quality[mode])) - tf_psnr,
                         "bytes": manifest["files"][mode]["bytes"],
                         "operators": manifest["files"][mode]["operators"]} for mode in decoders},
    }


def merged_rows(path: str, rows: list[dict], num_images: int) -> list[dict]:
    """Earlier results with these rows replacing theirs."""
    try:
        with open(path) as f:
            earlier = json.load(f)
    except OSError:
        return rows
    if earlier["images"] != num_images:
        raise SystemExit(f"tflite_kodak: {path} measured {earlier['images']} images, this run {num_images}")
    new = {row["name"]: row for row in rows}
    kept = [row for row in earlier["models"] if row["name"] not in new]
    return sorted(kept + rows, key=lambda row: row["name"])


def markdown(rows: list[dict], num_images: int) -> list[str]:
    """The check as a Markdown table."""
    cells = [[row["name"], f"{row['tf_psnr']:.2f}",
              *(f"{row['modes'][m]['max_pixel_difference']:.0f} / {row['modes'][m]['delta_psnr']:+.3f} / "
                f"{row['modes'][m]['bytes'] / 1024:.0f}" for m in tflite.MODES)] for row in rows]
    operators = sorted({op for row in rows for m in tflite.MODES for op in row["modes"][m]["operators"]})
    return ([f"TFLite decoders against each model's TF decoder on {num_images} Kodak images "
             "(max |pixel difference| over all images, both rounded; mean PSNR change).", ""]
            + report.table(["model", "TF PSNR", *(f"{m} max diff / dPSNR / KB" for m in tflite.MODES)], cells)
            + ["", f"Operators used by any file: {', '.join(operators)}."])


def main(argv: list[str] | None = None) -> int:
    """Exports, checks, writes the results."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=None, help="comma-separated shipped models (default: all)")
    parser.add_argument("--out", default=os.path.join("build", "tflite"), help="where the .tflite files go")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N Kodak images")
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    wanted = set(args.models.split(",")) if args.models else None
    unknown = sorted((wanted or set()) - {m["name"] for m in zoo.list_models()})
    if unknown:
        raise TfcompError(f"not installed models: {', '.join(unknown)}")
    paths = kodak_images(args.limit)
    images = [read_image(p)[0] for p in paths]
    models = [m for m in zoo.list_models() if wanted is None or m["name"] in wanted]
    points = [p for m in models for p in rate_points(m)]
    start = time.time()
    rows = [check_model(point, images, args.out) for point in tqdm(points, desc="models", unit="model")]
    if wanted is not None:
        rows = merged_rows(os.path.join(RESULTS, "tflite_kodak.json"), rows, len(images))
    table = markdown(rows, len(images))
    report.write_results(RESULTS, "tflite_kodak", {"images": len(images), "wall_time_s": time.time() - start,
                                                   "models": rows}, table, report.command_line(PROGRAM, argv))
    print("\n".join(table))
    return 0


if __name__ == "__main__":
    run_program(main)
