"""The SlimCAE thesis's colour question on Kodak: does its CIELAB chroma term lower the colour error of a SlimCAE
model's narrowest width at equal or lower rate? Codes every Kodak image at the narrowest width with two
models trained the same way except for --chroma-weight (scripts/slimcae_chroma.sh trains them) and
reports mean bpp (real file sizes), PSNR, MS-SSIM and CIELAB chroma error (mean distance in the a*b*
plane, the quantity the training term weighs).

Writes results/slimcae/chroma.{json,md}.

    .venv/bin/python -m tfcomp.evaluation.chroma --without runs/chroma/off/model --with runs/chroma/on/model
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np
from tqdm import tqdm


from tfcomp import report
from tfcomp.codecs.learned import LearnedCodec
from tfcomp.data.images import read_image
from tfcomp.data.kodak import kodak_images
from tfcomp.errors import run_program
from tfcomp.evaluation import metrics
from tfcomp.models.slimcae import chroma_difference

RESULTS = os.path.join("results", "slimcae")
PROGRAM = "python -m tfcomp.evaluation.chroma"


def measure(path: str, images: list[str]) -> dict:
    """Mean bpp, PSNR, MS-SSIM and chroma error of a slimmable model's narrowest width over the images."""
    probe = LearnedCodec(path, 0)
    narrowest = len(probe.widths) - 1
    codec = LearnedCodec(path, narrowest)
    rows = []
    for image_path in tqdm(images, desc=os.path.basename(os.path.dirname(path)) or path, unit="image"):
        image = read_image(image_path)[0]
        data = codec.encode(image)
        decoded = codec.decode(data)
        chroma = chroma_difference(image[None].astype(np.float32), decoded[None].astype(np.float32))
        rows.append({"image": os.path.basename(image_path), "bpp": metrics.bits_per_pixel(len(data), *image.shape[:2]),
                     "psnr": metrics.psnr(image, decoded), "ms_ssim": metrics.ms_ssim(image, decoded),
                     "chroma": float(chroma)})
    mean = {key: float(np.mean([r[key] for r in rows])) for key in ("bpp", "psnr", "ms_ssim", "chroma")}
    config = codec.metadata["config"]
    return {"model": report.relative(path), "width": probe.widths[narrowest], "chroma_weight": config.get("chroma_weight"),
            "lambda": config["lambdas"][narrowest], "steps": codec.metadata["training"]["steps"],
            "mean": mean, "per_image": rows}


def markdown(without: dict, with_term: dict) -> list[str]:
    """The two models side by side, and whether the term lowered the colour error at no more bits."""
    differ = "the chroma weight" + (" and the narrowest width's lambda" if with_term["lambda"] != without["lambda"]
                                    else "")
    lines = [f"Narrowest width ({without['width']} channels), {len(without['per_image'])} Kodak images, means. "
             f"Both models trained {with_term['steps']} steps from the same start; only {differ} differ"
             f"{'s' if differ.endswith('weight') else ''}.", ""]
    lines += report.table(["chroma weight", "narrowest lambda", "bpp", "PSNR (dB)", "MS-SSIM",
                           "CIELAB chroma error (delta E)"],
                          [[run["chroma_weight"] or 0, f"{run['lambda']:.5g}", f"{run['mean']['bpp']:.4f}",
                            f"{run['mean']['psnr']:.2f}", f"{run['mean']['ms_ssim']:.4f}", f"{run['mean']['chroma']:.3f}"]
                           for run in (without, with_term)])
    lower = with_term["mean"]["chroma"] < without["mean"]["chroma"]
    cheaper = with_term["mean"]["bpp"] <= without["mean"]["bpp"]
    lines += ["", f"Chroma error {'lower' if lower else 'not lower'} with the term "
              f"({with_term['mean']['chroma'] - without['mean']['chroma']:+.3f}), at "
              f"{'equal or lower' if cheaper else 'higher'} bpp "
              f"({with_term['mean']['bpp'] - without['mean']['bpp']:+.4f})."]
    return lines


def main(argv: list[str] | None = None) -> int:
    """Measures both models, prints and writes the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--without", required=True, help="model trained without the chroma term")
    parser.add_argument("--with", dest="with_term", required=True, help="model trained with the chroma term")
    parser.add_argument("--limit", type=int, default=None, help="first N Kodak images only")
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    images = kodak_images(args.limit)
    without, with_term = measure(args.without, images), measure(args.with_term, images)
    table = markdown(without, with_term)
    report.write_results(RESULTS, "chroma", {"without": without, "with": with_term}, table,
                         report.command_line(PROGRAM, argv))
    print("\n".join(table))
    return 0


if __name__ == "__main__":
    run_program(main)
