"""`tfcomp vote`: a blind A/B comparison page; prints win rates with confidence intervals at the end."""
from __future__ import annotations

import argparse
import webbrowser


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Registers the verb."""
    p = sub.add_parser(
        "vote", help="blind A/B comparison of two codecs at matched file size in a local web page",
        description="Serve a local page showing each image's original between two reconstructions, A at its "
                    "rate point and B at the rate point of its family whose file is the nearest not smaller "
                    "than A's, in random left/right order. Each choice is appended to a CSV at once; the "
                    "Finish button, the last trial or Ctrl-C ends the session and prints each codec's win "
                    "rate with a 95% Wilson confidence interval.")
    p.add_argument("a", metavar="A", help="one rate point: a shipped model or architecture (bls2017-mse-2, "
                                          "bls2017) or a classic point (jpeg-q50)")
    p.add_argument("b", metavar="B", help="a codec family (jpeg, webp, avif, jpeg2000, a ladder such as "
                                          "bls2017) or one of its points; its point is matched to A's size")
    p.add_argument("--images", nargs="+", metavar="DIR_OR_FILE",
                   help="image folders, files or globs (default: Kodak if present, else a bundled sample)")
    p.add_argument("--csv", default="votes.csv", help="CSV the votes are appended to (default: %(default)s)")
    p.add_argument("--host", default="127.0.0.1", help="address to serve on (default: %(default)s)")
    p.add_argument("--port", type=int, default=0, help="port (default: 0, any free port)")
    p.add_argument("--trials", type=int, help="number of trials (default: two per image)")
    p.add_argument("--seed", type=int, help="seed of the image order and left/right sides (default: random)")
    p.add_argument("--no-browser", action="store_true", help="print the address without opening a browser")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Prepares the reconstructions, serves the page until the session ends, prints the win rates."""
    from tfcomp.errors import TfcompError
    from tfcomp.vote import app, pairs, results

    if args.trials is not None and args.trials < 1:
        raise TfcompError("--trials must be at least 1")
    if not 0 <= args.port <= 65535:
        raise TfcompError("--port must be 0..65535")
    paths = pairs.image_paths(args.images)
    codec_a, points_b = pairs.rate_point(args.a), pairs.family_points(args.b)
    log = results.VoteLog(args.csv)
    contest = pairs.prepare(paths, codec_a, points_b, args.b, progress=True)
    session = app.VoteSession(contest, log, args.trials, args.seed)

    def ready(url: str) -> None:
        print(f"vote at {url} ({len(session.trials)} trials, {contest.label_a} vs {contest.label_b}); "
              f"Finish or Ctrl-C ends the session", flush=True)
        if not args.no_browser:
            webbrowser.open(url)

    app.serve_until_done(session, args.host, args.port, ready)
    print(results.format_win_rates(session.votes))
    print(f"votes appended to {args.csv}")
    return 0
