"""The Kodak reproduction run behind the README's results and docs/results.md (same as `tfcomp reproduce`).

    .venv/bin/python scripts/reproduce_kodak.py                # measures; writes results/kodak/, README.md, docs/results.md
    .venv/bin/python scripts/reproduce_kodak.py --report-only  # rewrites the documents from results/kodak/summary.json
"""
import sys

from tfcomp.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["reproduce", *sys.argv[1:]]))
