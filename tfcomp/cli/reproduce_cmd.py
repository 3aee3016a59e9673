"""`tfcomp reproduce`: the Kodak reproduction run behind the README's results and docs/results.md."""
from __future__ import annotations

import argparse
import os


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Registers the verb."""
    p = sub.add_parser("reproduce", help="regenerate the Kodak results (tables, plots, visuals) and their documents",
                       description="Evaluate every shipped family and JPEG/WebP/JPEG 2000/AVIF on Kodak in one "
                                   "run, record it in OUT/summary.json, then rewrite the README's results block "
                                   "and the tables of docs/results.md from that record.")
    p.add_argument("--images", help="folder of images (default: Kodak, $TFCOMP_KODAK)")
    p.add_argument("--limit", type=int, help="use only the first N images (a quick check)")
    p.add_argument("--out", default="results/kodak", help="output folder (default: %(default)s)")
    p.add_argument("--readme", default="README.md", help="README to update; '' to leave it alone")
    p.add_argument("--results-doc", default="docs/results.md", help="the full tables' document; '' to leave it alone")
    p.add_argument("--report-only", action="store_true",
                   help="measure nothing: rewrite the documents from the recorded OUT/summary.json")
    p.add_argument("--timing-images", type=int, default=2)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--repeats", type=int, default=5)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Runs the reproduction (or only rewrites its documents) and prints the summary."""
    from tfcomp.evaluation import reproduce

    documents = [path for path in (args.readme, args.results_doc) if path]
    if args.report_only:
        reproduce.write_documents(reproduce.load_summary(args.out), args.out, args.readme or None,
                                  args.results_doc or None)
        print(f"wrote {', '.join(documents) or 'nothing'} from {os.path.join(args.out, 'summary.json')}")
        return 0
    from tfcomp.cli.evaluate_cmd import format_summary, record_metrics
    from tfcomp.data.images import list_images
    from tfcomp.data.kodak import kodak_dir

    images = list_images(args.images or kodak_dir())[:args.limit]
    summary = reproduce.reproduce(images, args.out, args.readme or None, args.results_doc or None, kodak_dir(),
                                  args.timing_images, args.warmup, args.repeats)
    print(format_summary(summary))
    if args.limit is None and not args.images:
        record_metrics(summary)
    print(f"\nwrote {args.out}" + (f" and {', '.join(documents)}" if documents else ""))
    return 0
