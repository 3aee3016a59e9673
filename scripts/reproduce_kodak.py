"""Regenerates everything the README shows about Kodak from the shipped models (same as `tfcomp reproduce`).

    .venv/bin/python scripts/reproduce_kodak.py            # writes results/kodak/ and README.md
"""
import sys

from tfcomp.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["reproduce", *sys.argv[1:]]))
