"""`tfcomp compress` and `tfcomp decompress`: image <-> .tfc file with a shipped model."""
from __future__ import annotations

import argparse
import os
import sys

from tfcomp.data import images
from tfcomp.errors import TfcompError
from tfcomp.evaluation.metrics import bits_per_pixel


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Registers both verbs."""
    p = sub.add_parser("compress", help="compress an image into a .tfc file",
                       description="Compress an image (PNG, JPEG, ...) into a .tfc file with a shipped model.")
    p.add_argument("-m", "--model", help="shipped model name, or architecture name for its default "
                                         "(default: the zoo's default model; see `tfcomp zoo`), the "
                                         "KLT baseline: klt (quality 50) or klt-qN (N = 1..100), seed "
                                         "004's autoencoder: sdae-deflate or sdae-qN (N = 1..7; sdae = sdae-q7), "
                                         "or seed 003's shallow autoencoder trained on the image at encode "
                                         "time: shallow-cnn-cN or shallow-lstm-cN (code length N, e.g. 32, "
                                         "64, 80; shallow = shallow-lstm-c64)")
    quality = p.add_mutually_exclusive_group()
    quality.add_argument("-q", "--quality", type=float, metavar="Q",
                         help="quality Q of a variable-rate model, any value in its range (e.g. 1..8; "
                              "see `tfcomp zoo`), or rung Q of a ladder (1 = smallest files)")
    quality.add_argument("--width", type=int, metavar="W",
                         help="slimmable models (slimcae): code at width W, e.g. -m slimcae --width 96")
    quality.add_argument("--target-bpp", type=float, metavar="BPP",
                         help="largest file within BPP bits per pixel for this image (a variable-rate model: "
                              "within 3%% below BPP; a ladder: its best rung that fits)")
    quality.add_argument("--target-psnr", type=float, metavar="DB",
                         help="smallest file reaching DB PSNR on this image (else the top quality or rung, "
                              "with a warning)")
    p.add_argument("-f", "--force", action="store_true", help="overwrite OUTPUT if it exists")
    p.add_argument("input", help="image file")
    p.add_argument("output", nargs="?", help="output file (default: INPUT with the suffix .tfc)")
    p.set_defaults(run=compress)

    p = sub.add_parser("decompress", help="decompress a .tfc file into a PNG",
                       description="Decompress a .tfc file; the model is read from the file.")
    p.add_argument("-f", "--force", action="store_true", help="overwrite OUTPUT if it exists")
    p.add_argument("input", help=".tfc file")
    p.add_argument("output", nargs="?", help="lossless image to write: .png, .ppm, .bmp, .tif "
                                             "(default: INPUT.png)")
    p.set_defaults(run=decompress)


def note(message: str) -> None:
    """Prints a non-fatal remark to stderr."""
    print(f"tfcomp: note: {message}", file=sys.stderr)


def compress(args: argparse.Namespace) -> int:
    """Reads, converts (with notes), compresses, writes atomically."""
    from tfcomp import registry
    from tfcomp.codecs import ladder

    output = args.output or os.path.splitext(args.input)[0] + ".tfc"
    images.check_writable(output, args.force)
    for value, flag in ((args.target_bpp, "--target-bpp"), (args.target_psnr, "--target-psnr")):
        if value is not None and not value > 0:
            raise TfcompError(f"{flag} must be positive")
    if args.quality is not None:
        codec = ladder.rung(args.model, args.quality)
    else:
        codec = registry.file_codec(args.model, width=args.width)
    image, grayscale, notes = images.read_image(args.input)
    for message in notes:
        note(message)
    if args.target_bpp is None and args.target_psnr is None:
        data = codec.encode(image, grayscale=grayscale)
    else:
        rungs = registry.ladder(args.model)
        if getattr(rungs[0], "quality_range", None):
            choice = ladder.choose_quality(rungs[0], image, grayscale, args.target_bpp, args.target_psnr)
            picked = f"quality {choice.codec.quality:g}"
        else:
            choice = ladder.choose(rungs, image, grayscale, args.target_bpp, args.target_psnr)
            picked = f"rung {rungs.index(choice.codec) + 1} of {len(rungs)}"
        codec, data = choice.codec, choice.data
        achieved = f", {choice.psnr:.2f} dB" if choice.psnr is not None else ""
        note(f"picked {picked} ({codec.name}){achieved}")
        if choice.warning:
            print(f"tfcomp: warning: {choice.warning}", file=sys.stderr)
    images.atomic_write(output, data, overwrite=args.force)
    height, width = image.shape[:2]
    print(f"{args.input} -> {output}: {len(data)} bytes, "
          f"{bits_per_pixel(len(data), height, width):.4f} bpp, model {codec.name}")
    return 0


def decompress(args: argparse.Namespace) -> int:
    """Validates the file, decodes with the model it names, writes the image atomically."""
    from tfcomp import registry

    output = args.output or args.input + ".png"
    fmt = images.output_format(output)
    images.check_writable(output, args.force)
    image, c = registry.decode_file(images.read_bytes(args.input))
    images.atomic_write(output, images.image_bytes(image, fmt, grayscale=c.channels == 1), overwrite=args.force)
    print(f"{args.input} -> {output}: {c.width}x{c.height}, model {c.model}")
    return 0
