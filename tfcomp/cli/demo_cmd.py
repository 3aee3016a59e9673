"""`tfcomp demo`: the default model on a bundled image, beside JPEG, WebP and AVIF at no smaller file size."""
from __future__ import annotations

import argparse
import os
import subprocess
import sys


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Registers the verb."""
    p = sub.add_parser("demo", help="compress a bundled sample and compare with JPEG, WebP and AVIF",
                       description="Compress a sample image with a shipped model, decompress it in a "
                                   "separate process, and compare with JPEG, WebP and AVIF files of at least the "
                                   "same size.")
    p.add_argument("-m", "--model", help="shipped model or architecture (default: the zoo's default)")
    p.add_argument("--image", help="image to use instead of the bundled Kodak sample")
    p.add_argument("--out", default="demo_out", help="output folder (default: %(default)s)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Runs the demo and prints the comparison table."""
    from tfcomp.codecs import learned
    from tfcomp.codecs.classic import PillowCodec
    from tfcomp.data.images import read_image
    from tfcomp.evaluation import metrics, plots
    from tfcomp.samples import SAMPLE_IMAGE

    source = args.image or SAMPLE_IMAGE
    os.makedirs(args.out, exist_ok=True)
    codec = learned.load(args.model)
    image, _, _ = read_image(source)
    tfc_path = os.path.join(args.out, "sample.tfc")
    png_path = tfc_path + ".png"
    with open(tfc_path, "wb") as f:
        f.write(codec.encode(image))
    subprocess.run([sys.executable, "-m", "tfcomp", "decompress", "--force", tfc_path, png_path],
                   check=True, stdout=subprocess.DEVNULL)
    decoded, _, _ = read_image(png_path)
    size = os.path.getsize(tfc_path)
    rows = [(f"tfcomp {codec.name}", size, decoded)]
    for family, suffix in (("jpeg", "jpg"), ("webp", "webp"), ("avif", "avif")):
        if not PillowCodec.available(family):
            continue
        classic, data = PillowCodec.at_least(family, image, size)
        with open(os.path.join(args.out, f"sample.{suffix}"), "wb") as f:
            f.write(data)
        rows.append((classic.name, len(data), classic.decode(data)))
    height, width = image.shape[:2]
    print(f"{os.path.basename(source)} ({width}x{height}); decoded in a separate process\n")
    print(f"{'codec':28}{'bytes':>8}{'bpp':>8}{'PSNR dB':>9}{'MS-SSIM':>9}")
    for name, nbytes, recon in rows:
        print(f"{name:28}{nbytes:>8}{metrics.bits_per_pixel(nbytes, height, width):8.3f}"
              f"{metrics.psnr(image, recon):9.2f}{metrics.ms_ssim(image, recon):9.4f}")
    crop = (max(0, height // 2 - 128), max(0, width // 2 - 128), min(256, height, width))
    panels = [("original", image)] + [(f"{n}\n{metrics.bits_per_pixel(b, height, width):.3f} bpp, "
                                       f"{metrics.psnr(image, r):.2f} dB", r) for n, b, r in rows]
    plots.side_by_side(panels, os.path.join(args.out, "side_by_side.png"), crop)
    print(f"\nwrote {args.out}/: sample.tfc, sample.tfc.png, sample.jpg, sample.webp, sample.avif, side_by_side.png")
    return 0
