"""`tfcomp reproduce`: the Kodak reproduction run behind the README's results section."""
from __future__ import annotations

import argparse
import os


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Registers the verb."""
    p = sub.add_parser("reproduce", help="regenerate the README's Kodak results (tables, plots, visuals)",
                       description="Evaluate every shipped ladder and JPEG/WebP/JPEG 2000/AVIF on Kodak in one "
                                   "run, then rewrite the README's results section.")
    p.add_argument("--images", help="folder of images (default: Kodak, $TFCOMP_KODAK)")
    p.add_argument("--limit", type=int, help="use only the first N images (a quick check)")
    p.add_argument("--out", default="results/kodak", help="output folder (default: %(default)s)")
    p.add_argument("--readme", default="README.md", help="README to update; '' to leave it alone")
    p.add_argument("--timing-images", type=int, default=2)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--repeats", type=int, default=5)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Runs the reproduction and prints the summary."""
    from tfcomp.cli.evaluate_cmd import format_summary, record_metrics
    from tfcomp.data.kodak import kodak_dir
    from tfcomp.data.images import list_images
    from tfcomp.evaluation.reproduce import reproduce

    images = list_images(args.images or kodak_dir())[:args.limit]
    summary = reproduce(images, args.out, args.readme or None, args.timing_images, args.warmup, args.repeats)
    print(format_summary(summary))
    if args.limit is None and not args.images:
        record_metrics(summary)
    print(f"\nwrote {os.path.abspath(args.out)}" + (f" and {args.readme}" if args.readme else ""))
    return 0
