"""Turns a model trained by scripts/gpu/bls2017_jax.py (NAME.npz + NAME.json) into a shipped tfcomp model.

  .venv/bin/python scripts/gpu/import_model.py RESULT.npz saved_models/bls2017-...

The JSON record beside the .npz gives lambda, N, decoder and the run's steps, wall time, device and data; they
go into the model's metadata like any tfcomp training run's. The entropy-coding tables are built here, on the CPU.
"""
from __future__ import annotations

import argparse
import json
import logging
import os

from tfcomp.errors import TfcompError
from tfcomp.training.jax_import import import_jax_model
from tfcomp.training.saving import save_model


def main() -> None:
    """Imports one .npz and saves it under the given directory."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("npz", help="weights written by bls2017_jax.py (its .json record must sit beside it)")
    parser.add_argument("output", help="saved model directory to write")
    parser.add_argument("--family", help="the ladder the model joins (default: bls2017[-DECODER]); e.g. "
                                         "bls2017-n192 for a study at N=192 beside the shipped N=64 ladder")
    args = parser.parse_args()
    # tfc warns about its offset heuristic whenever a model is built; errors here must stay one line.
    logging.getLogger("absl").setLevel(logging.ERROR)
    try:
        with open(os.path.splitext(args.npz)[0] + ".json") as f:
            record = json.load(f)
        model = import_jax_model(args.npz, record["lambda"], record["num_filters"], record["decoder"])
    except (OSError, ValueError, KeyError, TfcompError) as error:  # one line, exit 2, nothing written
        parser.exit(2, f"import_model.py: {args.npz}: {type(error).__name__}: {error}\n")
    training = {
        "trainer": "scripts/gpu/bls2017_jax.py (JAX), imported by scripts/gpu/import_model.py",
        "steps": record["steps"], "wall_time_s": record["wall_seconds"], "device": record["device"],
        "data": "BSDS500 train (200 images, 2x box-downsampled)", "batch": record["batch"],
        "patch": record["patch"], "learning_rate": record["lr"], "final_learning_rate": record["final_lr"],
        "seed": record["seed"], "jax": record["jax"], "kernels_stored_as": "float16" if record.get("half_kernels") else "float32",
        "jax_kodak_estimate": record.get("kodak_shipped_kernels"), "family": args.family,
    }
    metadata = save_model(model, args.output, training)
    print(f"saved {args.output}: {metadata['family']}, lambda {record['lambda']}, N={record['num_filters']}, "
          f"{record['steps']} steps in {record['wall_seconds']:.0f} s on {record['device']}")


if __name__ == "__main__":
    main()
