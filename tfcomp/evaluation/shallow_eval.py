"""Measures the shallow per-image autoencoder (`shallow`, docs/systems.md) on Kodak beside JPEG q90, and quotes
its source's numbers.

For each image, variant (cnn, lstm) and code length (32, 64, 80) it trains the codec on the image and
reports compression ratio (raw 24-bit RGB bytes / file bytes), the ratio the same network would have with
its source's float32 storage, bpp, PSNR, MS-SSIM (tfcomp.evaluation.metrics) and the encode (training) time;
JPEG q90 (Pillow, 4:2:0) is measured on the same images. Writes shallow.json (settings, per-image rows,
means, the source's numbers) and shallow.md (the table) under --out.

    .venv/bin/python -m tfcomp.evaluation.shallow_eval                          # 3 Kodak images, default training
    .venv/bin/python -m tfcomp.evaluation.shallow_eval --limit 2 --epochs 10 --out /tmp/shallow   # a quick check
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np


from tfcomp import report
from tfcomp.codecs import shallow
from tfcomp.codecs.classic import PillowCodec
from tfcomp.codecs.shallow import ShallowCodec
from tfcomp.data.images import read_image
from tfcomp.data.kodak import kodak_images
from tfcomp.errors import run_program
from tfcomp.evaluation import metrics

# The source's tables (640x640 RGB TIFFs; float32 weights and codes; 300 epochs of one block per step).
# Image 1 has large flat regions, image 2 many ridges; Table 3 varies the LSTM+CNN code length on image 1.
SOURCE = {
    "shallow-cnn-c64": "ratio 1.53; MS-SSIM 0.8722 (image 1), 0.9381 (image 2)",
    "shallow-lstm-c32": "ratio 3.02; MS-SSIM 0.9386 (image 1)",
    "shallow-lstm-c64": "ratio 1.53; MS-SSIM 0.9679 (image 1), 0.9546 (image 2)",
    "shallow-lstm-c80": "ratio 1.22; MS-SSIM 0.9720 (image 1)",
    "jpeg-q90": "ratio 8.53 / 5.13; MS-SSIM 0.9966 / 0.9985 (images 1 / 2, ImageMagick convert)",
}
COLUMNS = ("ratio", "ratio_float32", "bpp", "psnr", "ms_ssim", "encode_s")
PROGRAM = "python -m tfcomp.evaluation.shallow_eval"


def measure(codec, image: np.ndarray) -> dict:
    """One file: its size, ratio, bpp, quality and encode time (decoding is checked to give the image size)."""
    height, width = image.shape[:2]
    start = time.perf_counter()
    data = codec.encode(image)
    encode_s = time.perf_counter() - start
    decoded = codec.decode(data)
    assert decoded.shape == image.shape
    row = dict(codec=codec.name, bytes=len(data), ratio=metrics.compression_ratio(len(data), height, width),
               bpp=metrics.bits_per_pixel(len(data), height, width), psnr=metrics.psnr(image, decoded),
               ms_ssim=metrics.ms_ssim(image, decoded), encode_s=encode_s)
    if isinstance(codec, ShallowCodec):
        # The source stored float32: twice our float16 payload, and no header.
        row["ratio_float32"] = 3 * height * width / (2 * sum(shallow.part_bytes(codec.code, height, width)))
    return row


def summarize(rows: list[dict]) -> dict:
    """Mean of every column per codec, in first-seen order."""
    means = {}
    for name in dict.fromkeys(r["codec"] for r in rows):
        group = [r for r in rows if r["codec"] == name]
        means[name] = {k: float(np.mean([r[k] for r in group])) for k in COLUMNS if k in group[0]}
    return means


def markdown(means: dict, settings: dict) -> list[str]:
    """The results table, ours beside the source's numbers."""
    lines = [
        "# `shallow` on Kodak", "",
        "The shallow per-image autoencoder (`tfcomp/codecs/shallow.py`) against JPEG q90 (Pillow, 4:2:0) "
        f"on {settings['images']} Kodak image(s) ({', '.join(settings['image_names'])}). "
        f"Training: {settings['epochs']} epochs of batches of {settings['batch']} blocks, RMSprop, "
        f"seed {settings['seed']}. "
        "Files store float16 "
        "weights and codes; `ratio f32` is what the same network gives with the source's float32 storage "
        "(comparable to the source's ratios). Ratio = raw 24-bit RGB bytes / file bytes; means over images.", "",
    ]
    rows = [[name, f"{m['ratio']:.2f}", f"{m['ratio_float32']:.2f}" if "ratio_float32" in m else "–", f"{m['bpp']:.3f}",
             f"{m['psnr']:.2f}", f"{m['ms_ssim']:.4f}", f"{m['encode_s']:.1f}", SOURCE.get(name, "–")]
            for name, m in means.items()]
    return lines + report.table(["codec", "ratio", "ratio f32", "bpp", "PSNR (dB)", "MS-SSIM", "encode s",
                                 "its source (640x640, float32, 300 epochs)"], rows)


def main(argv: list[str] | None = None) -> int:
    """Parses arguments, measures every codec on every image, writes shallow.json and shallow.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=3, help="first N Kodak images (default: %(default)s)")
    parser.add_argument("--variants", nargs="+", default=list(shallow.VARIANTS), choices=shallow.VARIANTS)
    parser.add_argument("--codes", nargs="+", type=int, default=list(shallow.CODES), help="default: %(default)s")
    parser.add_argument("--epochs", type=int, default=shallow.DEFAULT_EPOCHS, help="default: %(default)s")
    parser.add_argument("--batch", type=int, default=shallow.DEFAULT_BATCH, help="default: %(default)s")
    parser.add_argument("--seed", type=int, default=shallow.DEFAULT_SEED, help="default: %(default)s")
    parser.add_argument("--out", default=os.path.join("results", "shallow"), help="default: %(default)s")
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)

    paths = kodak_images(args.limit)
    codecs = [ShallowCodec(v, c, epochs=args.epochs, batch=args.batch, seed=args.seed)
              for c in args.codes for v in args.variants] + [PillowCodec("jpeg", 90)]
    rows = []
    for path in paths:
        image = read_image(path)[0]
        for codec in codecs:
            row = dict(measure(codec, image), image=os.path.basename(path))
            rows.append(row)
            print(f"{row['image']} {row['codec']}: ratio {row['ratio']:.2f}, {row['bpp']:.3f} bpp, "
                  f"{row['psnr']:.2f} dB, MS-SSIM {row['ms_ssim']:.4f}, encode {row['encode_s']:.1f} s", flush=True)
    settings = dict(images=len(paths), image_names=[os.path.basename(p) for p in paths], epochs=args.epochs,
                    batch=args.batch, seed=args.seed)
    means = summarize(rows)
    report.write_results(args.out, "shallow", dict(settings=settings, means=means, rows=rows, source=SOURCE),
                         markdown(means, settings), report.command_line(PROGRAM, argv))
    print(f"wrote {args.out}/shallow.json and shallow.md")
    return 0


if __name__ == "__main__":
    run_program(main)
