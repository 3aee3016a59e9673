"""Entry point of the `tfcomp` console script: parses the verb, runs it, turns errors into exit 2."""
from __future__ import annotations

import argparse
import os
import sys

from tfcomp import __version__
from tfcomp.cli import coding_cmd, demo_cmd, evaluate_cmd, export_cmd, reproduce_cmd, train_cmd, vote_cmd, zoo_cmd
from tfcomp.errors import TfcompError

VERBS = (coding_cmd, zoo_cmd, evaluate_cmd, reproduce_cmd, demo_cmd, train_cmd, export_cmd, vote_cmd)


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with one sub-parser per verb."""
    parser = argparse.ArgumentParser(prog="tfcomp", description="Learned image compression with TensorFlow Compression.")
    parser.add_argument("--version", action="version", version=f"tfcomp {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    for verb in VERBS:
        verb.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Runs one verb; user errors print one line and return 2."""
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except TfcompError as error:
        print(f"tfcomp: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tfcomp: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `tfcomp zoo | head`: the reader left, as for any Unix tool
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python flushes
        return 141


if __name__ == "__main__":
    sys.exit(main())
