"""Re-saves a shipped model from its own weights, so its SavedModel traces the current coding functions
(after a change that computes the same function faster, for example); the training record is kept.

    .venv/bin/python scripts/resave_model.py saved_models/slimcae-mse [--out DIR]

Refuses to write a model whose entropy tables differ from the original's: files made before must still decode.
"""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tfcomp.training.saving import load_keras_model, read_metadata, save_model  # noqa: E402


def main() -> int:
    """Parses arguments, rebuilds the model from its weights and saves it with its training record."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a saved model directory")
    parser.add_argument("--out", help="where to write it (default: in place)")
    args = parser.parse_args()
    before = read_metadata(args.model)
    out = args.out or args.model
    if os.path.basename(os.path.normpath(out)) != before["name"]:
        parser.error(f"the output directory must be named {before['name']} (the model's name)")
    after = save_model(load_keras_model(args.model), out, before["training"])
    if after["entropy_table_sha256"] != before["entropy_table_sha256"]:
        print(f"error: {out} has other entropy tables than {args.model}", file=sys.stderr)
        return 1
    print(f"re-saved {out} (entropy tables unchanged)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
