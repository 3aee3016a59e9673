"""Saving a trained model as a SavedModel directory with metadata.json beside its files."""
from __future__ import annotations

import datetime
import hashlib
import json
import os
import shutil

import tensorflow as tf

from tfcomp.models.common import table_hash

METADATA = "metadata.json"


def directory_sha256(path: str, exclude: tuple[str, ...] = (METADATA,)) -> str:
    """sha256 over the relative names and bytes of every file in a directory, in sorted order."""
    digest = hashlib.sha256()
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for name in sorted(files):
            full = os.path.join(root, name)
            rel = os.path.relpath(full, path)
            if rel in exclude:
                continue
            digest.update(rel.encode() + b"\0")
            with open(full, "rb") as f:
                digest.update(f.read())
    return digest.hexdigest()


def write_metadata(path: str, metadata: dict) -> None:
    """Writes metadata.json of a saved model directory atomically."""
    target = os.path.join(path, METADATA)
    with open(target + ".tmp", "w") as f:
        json.dump(metadata, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(target + ".tmp", target)


def read_metadata(path: str) -> dict:
    """metadata.json of a saved model directory."""
    with open(os.path.join(path, METADATA)) as f:
        return json.load(f)


def load_keras_model(path: str) -> tf.keras.Model:
    """Rebuilds a shipped model as its Keras class (from metadata) and reads its trained weights."""
    from tfcomp import registry

    meta = read_metadata(path)
    model = registry.model_class(meta["architecture"])(**meta["config"])
    model.load_weights(os.path.join(path, "variables", "variables")).expect_partial()
    return model


def save_model(model: tf.keras.Model, path: str, training: dict) -> dict:
    """Fixes the coding tables, saves the SavedModel (atomically) and returns its metadata (its ladder is
    training["family"] when the run named one)."""
    # Keras only saves models whose forward pass has run once (fit does it; a restored checkpoint has not).
    model(tf.zeros((1, 64, 64, 3)), training=False)
    model.enable_coding()
    name = os.path.basename(os.path.normpath(path))
    staging = path.rstrip("/") + ".saving"
    shutil.rmtree(staging, ignore_errors=True)
    model.save(staging, include_optimizer=False, save_format="tf")
    metadata = {
        "name": name,
        "architecture": model.architecture,
        "family": training.get("family") or model.family,
        "config": model.get_config(),
        "latent_channels": model.latent_channels(),
        "latent_strides": list(model.latent_strides),
        "entropy_table_sha256": table_hash(model.entropy_tables().numpy()),
        "parameters": {
            "analysis": int(sum(v.shape.num_elements() for v in model.analysis_transform.weights)),
            "synthesis": int(sum(v.shape.num_elements() for v in model.synthesis_transform.weights)),
        },
        **({"qualities": [1, model.levels], "default_quality": model.default_quality}
           if hasattr(model, "levels") else {}),
        "training": training,
        "saved_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "savedmodel_sha256": directory_sha256(staging),
    }
    write_metadata(staging, metadata)
    shutil.rmtree(path, ignore_errors=True)
    os.replace(staging, path)
    return metadata
