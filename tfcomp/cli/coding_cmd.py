"""`tfcomp compress` and `tfcomp decompress`: image <-> .tfc file with a shipped model."""
from __future__ import annotations

import argparse
import glob
import os
import sys

from tqdm import tqdm

from tfcomp.cli import batch
from tfcomp.codecs import container, tiling
from tfcomp.data import images
from tfcomp.errors import TfcompError


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Registers both verbs."""
    p = sub.add_parser("compress", help="compress an image into a .tfc file",
                       description="Compress an image (PNG, JPEG, ...) into a .tfc file with a shipped model.")
    p.add_argument("-m", "--model", help="shipped model name, or architecture name for its default "
                                         "(default: the zoo's default model; see `tfcomp zoo`), the "
                                         "KLT baseline: klt (quality 50) or klt-qN (N = 1..100), the stacked "
                                         "denoising autoencoder: sdae-deflate or sdae-qN (N = 1..7; sdae = sdae-q7), "
                                         "or the shallow autoencoder trained on the image at encode "
                                         "time: shallow-cnn-cN or shallow-lstm-cN (code length N, e.g. 32, "
                                         "64, 80; shallow = shallow-lstm-c64)")
    quality = p.add_mutually_exclusive_group()
    quality.add_argument("-q", "--quality", type=float, metavar="Q",
                         help="quality Q of a variable-rate model, any value in its range (e.g. 1..10; "
                              "see `tfcomp zoo`), or rung Q of a ladder (1 = smallest files)")
    quality.add_argument("--width", type=int, metavar="W",
                         help="slimmable models (slimcae): code at width W, e.g. -m slimcae --width 96")
    quality.add_argument("--target-bpp", type=float, metavar="BPP",
                         help="largest file within BPP bits per pixel for this image (a variable-rate model: "
                              "within 3%% below BPP; a ladder: its best rung that fits)")
    quality.add_argument("--target-psnr", type=float, metavar="DB",
                         help="smallest file reaching DB PSNR on this image (else the top quality or rung, "
                              "with a warning)")
    p.add_argument("--refine", type=int, default=0, metavar="STEPS",
                   help="variable-rate models (ms2020vr): before coding, optimize this image's latents with STEPS "
                        "gradient steps on its own rate-distortion loss; smaller files at the same quality "
                        "(6.6%% fewer bits on Kodak at 50 steps), decoded as usual, at about half a second per step "
                        "for a 768x512 photo on 2 cores (default: 0, off)")
    _common(p, "images, folders (searched for images at any depth) or globs ('photos/**/*.jpg')",
            "the .tfc file to write (default: INPUT with the suffix .tfc)",
            "files coded at once, on threads that share the model")
    p.set_defaults(run=compress)

    p = sub.add_parser("decompress", help="decompress .tfc files into PNGs",
                       description="Decompress .tfc files; the model is read from each file.")
    _common(p, ".tfc files, folders (searched for .tfc files at any depth) or globs",
            "the lossless image to write: .png, .ppm, .bmp, .tif (default: INPUT.png)",
            "files decoded at once, each by its own worker process")
    p.set_defaults(run=decompress)


def _common(p: argparse.ArgumentParser, inputs: str, output: str, jobs: str) -> None:
    """Options both verbs share: inputs, outputs, batch and size limits."""
    p.add_argument("paths", nargs="+", metavar="PATH", help=f"inputs: {inputs}; or INPUT OUTPUT: {output}")
    p.add_argument("-o", "--out-dir", metavar="DIR", help="write outputs under DIR, mirroring the inputs' folders "
                                                          "(default: beside each input)")
    p.add_argument("-f", "--force", action="store_true", help="overwrite outputs that exist (default: complete "
                   "outputs are skipped, so a stopped batch can be run again)")
    p.add_argument("-j", "--jobs", type=int, default=1, metavar="N",
                   help=f"{jobs} (default: 1)")
    p.add_argument("--tile", type=int, metavar="PIXELS",
                   help=f"transforms in tiles of this side, a multiple of 16 (default: {tiling.TILE} for images "
                        f"above {tiling.AUTO_PIXELS / 1e6:.1f} megapixels; 0: never); the file is the same")
    p.add_argument("--max-pixels", type=int, default=container.DEFAULT_MAX_PIXELS, metavar="N",
                   help=f"refuse images larger than N pixels (default: {container.DEFAULT_MAX_PIXELS}, "
                        f"{container.DEFAULT_MAX_PIXELS / 1e6:.0f} megapixels; at most {container.MAX_PIXELS})")


def _jobs(args: argparse.Namespace, suffixes: tuple[str, ...], output_name, is_output) -> list[batch.Job]:
    """The jobs the command line asks for: INPUT OUTPUT, or any number of inputs (with -o DIR)."""
    if args.jobs < 1:
        raise TfcompError("--jobs must be at least 1")
    if args.tile is not None and (args.tile < 0 or args.tile % 16):
        raise TfcompError("--tile must be 0 or a positive multiple of 16")
    if not 0 < args.max_pixels <= container.MAX_PIXELS:
        raise TfcompError(f"--max-pixels must be 1..{container.MAX_PIXELS}")
    paths = args.paths
    if len(paths) == 2 and is_output(paths[1]) and not glob.has_magic(paths[0]) and not os.path.isdir(paths[0]):
        if args.out_dir:
            raise TfcompError("give either OUTPUT or --out-dir, not both")
        return [batch.Job(paths[0], paths[1])]
    return batch.jobs(batch.expand(paths, suffixes), output_name, args.out_dir)


def _finish(args: argparse.Namespace, jobs: list[batch.Job], work, complete) -> int:
    """Runs the jobs and reports; the exit status."""
    outcome = batch.run(jobs, work, complete, force=args.force, workers=args.jobs)
    return batch.report(outcome, len(jobs))


def note(message: str) -> None:
    """Prints a non-fatal remark to stderr (above the progress bar, if any)."""
    tqdm.write(f"tfcomp: note: {message}", file=sys.stderr)


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".ppm", ".pgm", ".pbm", ".bmp", ".tif", ".tiff", ".webp", ".gif")


def _codec(args: argparse.Namespace, rungs: bool = False):
    """The codec (or with rungs=True, the ladder) the options name, with the tiling asked for."""
    from tfcomp import registry
    from tfcomp.codecs import learned

    if rungs:
        codecs = registry.ladder(args.model)
    elif args.quality is not None:
        codecs = [registry.rung(args.model, args.quality)]
    else:
        codecs = [registry.file_codec(args.model, width=args.width)]
    for codec in codecs:
        if isinstance(codec, learned.LearnedCodec):  # the baselines tile in their own ways
            codec.tile, codec.refine = args.tile, args.refine
            codec.check_refine()
        elif args.refine:
            raise TfcompError(f"--refine is for variable-rate models (ms2020vr), not {codec.name}")
    return codecs if rungs else codecs[0]


def compress(args: argparse.Namespace) -> int:
    """Compresses every input (read, converted with notes, coded, written atomically)."""
    for value, flag in ((args.target_bpp, "--target-bpp"), (args.target_psnr, "--target-psnr")):
        if value is not None and not value > 0:
            raise TfcompError(f"{flag} must be positive")
    jobs = _jobs(args, IMAGE_SUFFIXES, lambda path: os.path.splitext(path)[0] + ".tfc",
                 lambda path: path.lower().endswith(".tfc"))
    _codec(args, rungs=args.target_bpp is not None or args.target_psnr is not None)  # a bad -m fails once, here
    return _finish(args, jobs, lambda job: compress_one(args, job), _is_complete_tfc)


def compress_one(args: argparse.Namespace, job: batch.Job) -> str:
    """Compresses one image into job.output; the line to print."""
    from tfcomp.codecs import ladder
    from tfcomp.measures import bits_per_pixel

    image, grayscale, notes = images.read_image(job.input, max_pixels=args.max_pixels)
    for message in notes:
        note(f"{job.input}: {message}")
    if args.target_bpp is None and args.target_psnr is None:
        codec = _codec(args)
        data = codec.encode(image, grayscale=grayscale)
    else:
        # Each image bisects on codecs of its own: choose_quality changes the quality of the one it is given.
        rungs = _codec(args, rungs=True)
        if getattr(rungs[0], "quality_range", None):
            choice = ladder.choose_quality(rungs[0], image, grayscale, args.target_bpp, args.target_psnr)
            picked = f"quality {choice.codec.quality:g}"
        else:
            choice = ladder.choose(rungs, image, grayscale, args.target_bpp, args.target_psnr)
            picked = f"rung {rungs.index(choice.codec) + 1} of {len(rungs)}"
        codec, data = choice.codec, choice.data
        achieved = f", {choice.psnr:.2f} dB" if choice.psnr is not None else ""
        note(f"{job.input}: picked {picked} ({codec.name}){achieved}")
        if choice.warning:
            tqdm.write(f"tfcomp: warning: {job.input}: {choice.warning}", file=sys.stderr)
    images.atomic_write(job.output, data, overwrite=args.force)
    height, width = image.shape[:2]
    return (f"{job.input} -> {job.output}: {len(data)} bytes, "
            f"{bits_per_pixel(len(data), height, width):.4f} bpp, model {codec.name}")


def _is_complete_tfc(path: str) -> bool:
    """Whether a file is a whole .tfc file (its checksum holds)."""
    try:
        container.unpack(images.read_bytes(path))
        return True
    except TfcompError:
        return False


def decompress(args: argparse.Namespace) -> int:
    """Decodes every input with the model its file names and writes the images atomically; the decoding runs
    in worker processes with a deadline (tfcomp.cli.sandbox), one per job."""
    import threading

    from tfcomp.cli import sandbox

    jobs = _jobs(args, (".tfc",), lambda path: path + ".png", lambda path: not path.lower().endswith(".tfc"))
    for job in jobs:
        images.output_format(job.output)  # a bad suffix fails before anything is decoded
    local, decoders = threading.local(), []

    def work(job: batch.Job) -> str:
        if not hasattr(local, "decoder"):
            local.decoder = sandbox.Decoder()
            decoders.append(local.decoder)
        return local.decoder.decode(job.input, job.output, args.max_pixels, args.tile, args.force)

    try:
        return _finish(args, jobs, work, images.is_complete_image)
    finally:
        for decoder in decoders:
            decoder.close()
