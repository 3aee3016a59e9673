"""Decode latency of one Kodak image: every shipped model's TF decoder (the SavedModel's synthesis) and its
TFLite float32 / float16 / int8 decoders (XNNPACK, 2 threads), next to Pillow's JPEG and WebP decoding of
the same image, all measured in this run (median of repeats; a model's decoders are timed in three rounds of
blocks, each block after its own warm-up, see timing.time_interleaved). Run it with nothing else busy.

Writes results/deployment/bench_decode.{json,md,png} (or into --out).

    .venv/bin/python -m tfcomp.export.bench_decode [--models NAME,...] [--image PATH] [--repeats 21] [--out DIR]
"""
from __future__ import annotations

import argparse
import functools
import os
import platform
import sys

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)
from tqdm import tqdm  # noqa: E402


from tfcomp import report, zoo
from tfcomp.codecs.classic import PillowCodec
from tfcomp.codecs.learned import LearnedCodec, rate_points
from tfcomp.data.images import read_image
from tfcomp.data.kodak import kodak_images
from tfcomp.evaluation.timing import time_call, time_interleaved
from tfcomp.errors import TfcompError, run_program
from tfcomp.export import tflite, tflite_export
from tfcomp.samples import SAMPLE_IMAGE

RESULTS = os.path.join("results", "deployment")
TFLITE_MODES = ("float32", "float16", "int8")
CLASSIC = (("jpeg", 75), ("webp", 75))
THREADS = 2
PROGRAM = "python -m tfcomp.export.bench_decode"


def bench_model(point: LearnedCodec, image: np.ndarray, warmup: int, repeats: int) -> dict:
    """Synthesis time of the TF decoder and of each TFLite mode, in milliseconds, timed in rounds."""
    data = point.encode(image)
    decoders = {"tf": point.stages(image, data)["synthesis"]}
    exported = tflite_export.ExportedModel(point.path, point.width_index)
    symbols = exported.symbols(image)
    flatbuffers = tflite_export.convert_modes(exported, TFLITE_MODES, tflite_export.calibration_images())
    for mode, (flatbuffer, _) in flatbuffers.items():
        decoders[f"tflite-{mode}"] = functools.partial(tflite.Decoder(flatbuffer, THREADS), symbols)
    times = time_interleaved(decoders, warmup, repeats)
    return {"name": point.name, "bytes": len(data), "ms": {name: seconds * 1e3 for name, seconds in times.items()}}


def markdown(record: dict) -> list[str]:
    """One table: a row per model, a column per decoder, the classic decoders and two ratios (TF over TFLite,
    the fastest TFLite decoder over WebP's)."""
    classic = record["classic_ms"]
    webp = classic["webp-q75"]
    columns = ["tf", *(f"tflite-{m}" for m in TFLITE_MODES)]
    rows = []
    for row in record["models"]:
        ms = row["ms"]
        fastest = min(ms[c] for c in columns[1:])
        rows.append([row["name"], *(f"{ms[c]:.1f}" for c in columns), f"{ms['tf'] / ms['tflite-float32']:.2f}x",
                     f"{fastest / webp:.1f}x"])
    return ([f"Synthesis time (ms, median) for {record['image']} on {record['cpu']}, {record['cores']} "
             f"cores; TFLite with XNNPACK and {record['threads']} threads. Pillow in the same run: "
             + ", ".join(f"{k} decode {v:.2f} ms" for k, v in classic.items()) + ".", ""]
            + report.table(["model", *columns, "TF / TFLite f32", "fastest TFLite / WebP"], rows))


def plot(rows: list[dict], classic: dict, path: str) -> None:
    """Horizontal bars per model and decoder, classic decode times as vertical lines."""
    columns = ["tf", *(f"tflite-{m}" for m in TFLITE_MODES)]
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(rows) * len(columns) / 2 + 1.5))
    height = 0.8 / len(columns)
    for j, column in enumerate(columns):
        ax.barh([i + j * height for i in range(len(rows))], [r["ms"][column] for r in rows], height, label=column)
    for (name, value), style in zip(classic.items(), ("--", ":")):
        ax.axvline(value, color="black", linestyle=style, label=f"Pillow {name}")
    ax.set_yticks([i + 0.4 - height / 2 for i in range(len(rows))], [r["name"] for r in rows])
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("decode time (ms, log scale)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    """Measures, prints and writes the table and plot."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=None, help="comma-separated shipped models (default: all)")
    parser.add_argument("--image", default=None, help="image to decode (default: the first Kodak image)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=21, help="timed runs per decoder (over three rounds)")
    parser.add_argument("--out", default=RESULTS, help="output directory (default: %(default)s)")
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    try:
        path = args.image or kodak_images(1)[0]
    except TfcompError:  # no Kodak here: the bundled sample, one of its images
        path = SAMPLE_IMAGE
    image = read_image(path)[0]
    classic = {}
    for family, quality in CLASSIC:
        codec = PillowCodec(family, quality)
        data = codec.encode(image)
        classic[codec.name] = time_call(lambda: codec.decode(data), args.warmup, args.repeats * 3)["median_s"] * 1e3
    wanted = set(args.models.split(",")) if args.models else None
    points = [p for m in zoo.list_models() if wanted is None or m["name"] in wanted for p in rate_points(m)]
    rows = [bench_model(p, image, args.warmup, args.repeats) for p in tqdm(points, desc="models", unit="model")]
    record = {"image": os.path.basename(path), "threads": THREADS, "classic_ms": classic, "models": rows,
              "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count()}
    report.write_results(args.out, "bench_decode", record, markdown(record), report.command_line(PROGRAM, argv))
    plot(rows, classic, os.path.join(args.out, "bench_decode.png"))
    print("\n".join(markdown(record)))
    return 0


if __name__ == "__main__":
    run_program(main)
