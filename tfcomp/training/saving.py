"""Saving a trained model as a SavedModel directory with metadata.json beside its files."""
from __future__ import annotations

import datetime
import os
import shutil

import tensorflow as tf

from tfcomp.models.common import table_hash
from tfcomp import zoo
from tfcomp.zoo import directory_sha256, read_metadata, write_metadata


def load_keras_model(path: str) -> tf.keras.Model:
    """Rebuilds a shipped model as its Keras class (from metadata) and reads its trained weights."""
    from tfcomp import registry

    meta = read_metadata(path)
    model = registry.model_class(meta["architecture"])(**meta["config"])
    model.load_weights(os.path.join(path, "variables", "variables")).expect_partial()
    return model


def next_version(name: str, tables_sha256: str) -> int:
    """The version a model saved under `name` gets: the installed model's own when the entropy tables are the
    same (a re-traced model decodes the same files), the next one when they differ, so that a name never
    changes meaning; 1 for a new name."""
    try:
        installed = read_metadata(os.path.join(zoo.models_dir(), name))
    except (OSError, ValueError):
        return 1
    same = installed.get("entropy_table_sha256") == tables_sha256
    return zoo.version(installed) + (0 if same else 1)


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
    tables = table_hash(model.entropy_tables().numpy())
    metadata = {
        "name": name,
        "version": next_version(name, tables),
        "architecture": model.architecture,
        "family": training.get("family") or model.family,
        "config": model.get_config(),
        "latent_channels": model.latent_channels(),
        "latent_strides": list(model.latent_strides),
        "entropy_table_sha256": tables,
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
