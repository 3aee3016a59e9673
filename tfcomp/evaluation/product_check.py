"""The variable-rate model's rate control and decode speed on real files: `--target-bpp` on every image at a few
targets (how many land within 3% below the target, and where the target lies outside the model's range), and
the median decode time per image (entropy decoding included) timed in interleaved rounds with a reference model.

    nice -n 10 .venv/bin/python -m tfcomp.evaluation.product_check [--model ms2020vr-mse] \\
        [--reference bls2017-mse-6] [--images ../shared/datasets/kodak] [--out results/product]
"""
from __future__ import annotations

import argparse
import os
import sys

from tqdm import tqdm

from tfcomp import report
from tfcomp.codecs import ladder
from tfcomp.codecs.learned import load
from tfcomp.data.images import list_images, read_image
from tfcomp.errors import run_program
from tfcomp.evaluation.timing import decode_time_medians

PROGRAM = "python -m tfcomp.evaluation.product_check"
TARGETS = (0.1, 0.25, 0.5, 1.0)


def target_bpp_check(model: str, paths: list[str], targets: tuple[float, ...] = TARGETS) -> dict:
    """Per target: each image's file size against it; 'in range' images are those where the model can reach it."""
    codec = load(model)
    result = {}
    for target in targets:
        rows = []
        for path in tqdm(paths, desc=f"--target-bpp {target}", leave=False):
            choice = ladder.choose_quality(codec, read_image(path)[0], target_bpp=target)
            rows.append(dict(image=os.path.basename(path), quality=choice.codec.quality, bpp=choice.bpp,
                             in_range=choice.warning is None,
                             within=(1 - ladder.BPP_TOLERANCE) * target <= choice.bpp <= target))
        in_range = [r for r in rows if r["in_range"]]
        result[str(target)] = dict(images=rows, in_range=len(in_range), within=sum(r["within"] for r in in_range),
                                   worst_ratio=min((r["bpp"] / target for r in in_range), default=None))
    return result


def decode_times(model: str, reference: str, paths: list[str], rounds: int = 3, repeats: int = 6) -> dict:
    """Median over images of each model's median decode time (s), the two timed in interleaved rounds."""
    codecs = {model: load(model), reference: load(reference)}

    def files_of(path: str) -> dict[str, bytes]:
        image = read_image(path)[0]
        return {name: codec.encode(image) for name, codec in codecs.items()}

    medians = decode_time_medians(codecs, map(files_of, tqdm(paths, desc="decode time", leave=False)), warmup=1,
                                  repeats=repeats, rounds=rounds)
    return dict(median_s=medians, ratio=medians[model] / medians[reference], images=len(paths))


def markdown(model: str, reference: str, targets: dict, times: dict) -> list[str]:
    """The report: one table for rate control, one line for decode time."""
    rows = [[t, f"{r['within']}/{r['in_range']}", len(r["images"]) - r["in_range"],
             report.fmt(r["worst_ratio"], ".3f")] for t, r in targets.items()]
    lines = [f"# Rate control and decode time of `{model}`", "",
             "`--target-bpp` on every image (the largest file within the target; within 3% below it where the "
             "model's range allows):", ""]
    lines += report.table(["target bpp", "within 3% below (of images in range)", "outside the model's range",
                           "smallest bpp / target in range"], rows)
    m = times["median_s"]
    lines += ["", f"Decode time per image (median over {times['images']} images, entropy decoding included, "
              f"interleaved): `{model}` {m[model]:.3f} s, `{reference}` {m[reference]:.3f} s, "
              f"ratio {times['ratio']:.2f}."]
    return lines


def main(argv: list[str] | None = None) -> int:
    """Runs both checks and writes OUT/rate_control.{json,md}."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="ms2020vr-mse")
    parser.add_argument("--reference", default="bls2017-mse-6")
    parser.add_argument("--images", default="../shared/datasets/kodak")
    parser.add_argument("--limit", type=int, help="the first N images only")
    parser.add_argument("--out", default="results/product")
    args = parser.parse_args(argv)
    paths = list_images(args.images)[:args.limit]
    targets = target_bpp_check(args.model, paths)
    times = decode_times(args.model, args.reference, paths)
    lines = markdown(args.model, args.reference, targets, times)
    report.write_results(args.out, "rate_control", dict(target_bpp=targets, decode=times), lines,
                         report.command_line(PROGRAM, argv if argv is not None else sys.argv[1:]))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    run_program(main)
