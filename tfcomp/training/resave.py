"""Re-saves a shipped model from its own weights, so its SavedModel traces the current coding functions
(after a change that computes the same function faster, for example); the training record, version and Kodak
metrics are kept.

    .venv/bin/python -m tfcomp.training.resave saved_models/slimcae-mse [--out DIR]

Refuses to write a model whose entropy tables differ from the original's: files made before must still decode.
"""
from __future__ import annotations

import argparse
import os
import sys

import tensorflow as tf

from tfcomp.training.saving import load_keras_model, read_metadata, save_model, write_metadata

# What a re-saved model keeps of its metadata besides the training record: measurements and notes.
KEPT = ("kodak", "validation", "version_note")


def model_arguments(description: str, model_help: str, argv: list[str] | None) -> tuple[str, dict, str]:
    """(model folder, its metadata, where the rewritten model goes: in place by default) from the command line
    of a program that rewrites a saved model; the output folder must keep the model's name."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("model", help=model_help)
    parser.add_argument("--out", help="where to write it (default: in place)")
    args = parser.parse_args(argv)
    before = read_metadata(args.model)
    out = args.out or args.model
    if os.path.basename(os.path.normpath(out)) != before["name"]:
        parser.error(f"the output directory must be named {before['name']} (the model's name)")
    return args.model, before, out


def save_again(model: tf.keras.Model, before: dict, out: str, training: dict) -> dict:
    """Saves a rebuilt model with a training record and the measurements of the model it replaces."""
    after = save_model(model, out, training)
    after.update({key: before[key] for key in KEPT if key in before})
    write_metadata(out, after)
    return after


def main(argv: list[str] | None = None) -> int:
    """Parses arguments, rebuilds the model from its weights and saves it with its training record."""
    model, before, out = model_arguments(__doc__.splitlines()[0], "a saved model directory", argv)
    after = save_again(load_keras_model(model), before, out, before["training"])
    if after["entropy_table_sha256"] != before["entropy_table_sha256"]:
        print(f"error: {out} has other entropy tables than {model}", file=sys.stderr)
        return 1
    print(f"re-saved {out} (entropy tables unchanged, version {after['version']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
