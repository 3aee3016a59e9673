"""Re-saves a shipped model from its own weights, so its SavedModel traces the current coding functions
(after a change that computes the same function faster, for example); the training record, version and Kodak
metrics are kept.

    .venv/bin/python -m tfcomp.training.resave saved_models/slimcae-mse [--out DIR]

Refuses to write a model whose entropy tables differ from the original's: files made before must still decode.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile

import numpy as np

import tensorflow as tf

from tfcomp.errors import run_program
from tfcomp.models.common import table_hash
from tfcomp.training.saving import load_keras_model, read_metadata, save_model, write_metadata
from tfcomp.zoo import directory_sha256

# What a re-saved model keeps of its metadata besides the training record: measurements and notes.
KEPT = ("kodak", "kodak_curve", "validation", "version_note", "checkpoints")


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


def reuse_variables(original: str, out: str) -> bool:
    """Puts the original's variable files back into `out` when they hold the same values (only the object
    graph recorded beside them differs), so that a re-traced model adds no second copy of its weights to the
    repository; whether it did."""
    old, new = (tf.train.load_checkpoint(os.path.join(d, "variables", "variables")) for d in (original, out))
    keys = set(old.get_variable_to_shape_map()) - {"_CHECKPOINTABLE_OBJECT_GRAPH"}
    if keys != set(new.get_variable_to_shape_map()) - {"_CHECKPOINTABLE_OBJECT_GRAPH"}:
        return False
    if not all(np.array_equal(old.get_tensor(k), new.get_tensor(k)) for k in keys):
        return False
    shutil.rmtree(os.path.join(out, "variables"))
    shutil.copytree(os.path.join(original, "variables"), os.path.join(out, "variables"))
    metadata = read_metadata(out)
    metadata["savedmodel_sha256"] = directory_sha256(out)
    write_metadata(out, metadata)
    return True


def main(argv: list[str] | None = None) -> int:
    """Parses arguments, rebuilds the model from its weights and saves it with its training record."""
    model, before, out = model_arguments(__doc__.splitlines()[0], "a saved model directory", argv)
    with tempfile.TemporaryDirectory() as original:
        shutil.copytree(os.path.join(model, "variables"), os.path.join(original, "variables"))
        after = save_again(load_keras_model(model), before, out, before["training"])
        if after["entropy_table_sha256"] != before["entropy_table_sha256"]:
            print(f"error: {out} has other entropy tables than {model}", file=sys.stderr)
            return 1
        reused = reuse_variables(original, out)
    loaded = tf.saved_model.load(out)
    if table_hash(loaded.entropy_tables().numpy()) != before["entropy_table_sha256"]:
        print(f"error: {out} does not load its entropy tables back", file=sys.stderr)
        return 1
    print(f"re-saved {out} (entropy tables unchanged, version {after['version']}"
          + (", variable files kept)" if reused else ")"))
    return 0


if __name__ == "__main__":
    run_program(main)
