"""`tfcomp evaluate`: rate-distortion, BD-rates and timings of codecs over a folder of images."""
from __future__ import annotations

import argparse
import math
import os


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Registers the verb."""
    p = sub.add_parser(
        "evaluate", help="measure codecs on Kodak (or any folder): CSV, JSON, RD plot, BD-rates, timing",
        description="Evaluate registered models and codecs. CODEC is a shipped model, an architecture "
                    "or ladder (all its shipped models), or a classic codec family (jpeg, webp, jpeg2000, "
                    "avif) or point (jpeg-q50).")
    p.add_argument("codecs", nargs="*", metavar="CODEC",
                   help="default: the default model's ladder, jpeg, webp, jpeg2000, avif")
    p.add_argument("--images", help="folder of images (default: Kodak, $TFCOMP_KODAK)")
    p.add_argument("--limit", type=int, help="use only the first N images")
    p.add_argument("--out", default="results/evaluate", help="output folder (default: %(default)s)")
    p.add_argument("--timing-images", type=int, default=1, help="images to time each codec on")
    p.add_argument("--warmup", type=int, default=2, help="untimed runs before timing")
    p.add_argument("--repeats", type=int, default=5, help="timed runs (median reported)")
    p.add_argument("--in-process", action="store_true", help="decode in this process (faster; default decodes "
                                                              "in a separate process, as a user would)")
    p.add_argument("--record", action="store_true",
                   help="write each evaluated shipped model's mean metrics into its metadata.json")
    p.set_defaults(run=run)


def default_codecs() -> list[str]:
    """The default model's ladder (or the model) plus the four classic codecs."""
    from tfcomp import registry, zoo
    from tfcomp.codecs.learned import LearnedCodec

    family = LearnedCodec(zoo.resolve(None)).family
    return [family, *registry.CLASSIC_FAMILIES]


def run(args: argparse.Namespace) -> int:
    """Evaluates and prints the summary tables."""
    from tfcomp.data.kodak import kodak_dir
    from tfcomp.data.images import list_images
    from tfcomp.evaluation.evaluate import evaluate

    images = list_images(args.images or kodak_dir())[:args.limit]
    os.makedirs(args.out, exist_ok=True)
    summary = evaluate(args.codecs or default_codecs(), images, args.out, args.timing_images, args.warmup,
                       args.repeats, separate_process=not args.in_process)
    print(format_summary(summary))
    if args.record:
        record_metrics(summary)
    print(f"\nwrote {args.out}/per_image.csv, summary.json, rd.png")
    return 0


def format_summary(summary: dict) -> str:
    """Plain-text tables: one row per codec point, then BD-rates."""
    gains = summary["psnr_gain_vs_jpeg"]
    lines = [f"{summary['images']} images from {summary['image_dir']}",
             f"{'codec':24}{'bpp':>8}{'PSNR':>8}{'MS-SSIM':>9}{'dPSNR vs JPEG':>15}{'enc s':>8}{'dec s':>8}"]
    for points in summary["curves"].values():
        for p in points:
            timing = p.get("timing", {})
            gain = gains.get(p["codec"], math.nan)
            lines.append(f"{p['codec']:24}{p['bpp']:8.4f}{p['psnr']:8.2f}{p['ms_ssim']:9.4f}"
                         f"{'' if math.isnan(gain) else format(gain, '+.2f'):>15}"
                         f"{timing.get('encode', math.nan):8.3f}{timing.get('decode', math.nan):8.3f}")
    for family, anchors in summary["bd_rate"].items():
        lines.append(f"\nBD-rate of {family} (%, negative = fewer bits)")
        for anchor, values in anchors.items():
            lines.append(f"  vs {anchor:10} PSNR {values['psnr']:+7.1f}   MS-SSIM(dB) {values['ms_ssim_db']:+7.1f}")
    return "\n".join(lines)


def record_metrics(summary: dict) -> None:
    """Stores the mean metrics of every evaluated shipped model in its metadata.json."""
    from tfcomp import zoo
    from tfcomp.zoo import read_metadata, write_metadata

    shipped = {m["name"]: m["path"] for m in zoo.list_models()}
    for name, point in summary["codecs"].items():
        if name in shipped:
            meta = read_metadata(shipped[name])
            meta["kodak"] = {k: round(point[k], 4) for k in ("bpp", "psnr", "ms_ssim", "ssim")}
            # null, not NaN (which strict JSON readers reject), where the run had no JPEG curve at this rate.
            gain = summary["psnr_gain_vs_jpeg"].get(name, math.nan)
            meta["kodak"].update(images=summary["images"], image_dir=summary["image_dir"],
                                 psnr_gain_vs_jpeg_db=None if math.isnan(gain) else round(gain, 3))
            write_metadata(shipped[name], meta)
            print(f"recorded Kodak metrics in {shipped[name]}/metadata.json")
