"""The shipped models: where they are installed, their metadata, defaults, versions, and lookup by name.

Imports no TensorFlow: `tfcomp zoo` and `tfcomp --help` read only the metadata files.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import site
import sys

from tfcomp.errors import TfcompError

ZOO_INDEX = "zoo.json"
METADATA = "metadata.json"
MODELS_ENV = "TFCOMP_MODELS"
# The models folder of a checkout (beside the package) and of an installed package (setup.cfg's data_files).
CHECKOUT_MODELS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "saved_models")
INSTALLED_MODELS = os.path.join("share", "tfcomp", "saved_models")


def models_dir() -> str:
    """Where the shipped models are: $TFCOMP_MODELS, else the checkout's saved_models/, else the folder that
    `pip install` put under the environment's prefix (share/tfcomp/saved_models; the user base for --user)."""
    if os.environ.get(MODELS_ENV):
        return os.environ[MODELS_ENV]
    prefixes = dict.fromkeys((sys.prefix, sys.base_prefix, site.getuserbase()))
    candidates = [CHECKOUT_MODELS] + [os.path.join(prefix, INSTALLED_MODELS) for prefix in prefixes]
    return next((path for path in candidates if os.path.exists(os.path.join(path, ZOO_INDEX))), CHECKOUT_MODELS)


def read_metadata(path: str) -> dict:
    """metadata.json of a saved model directory."""
    with open(os.path.join(path, METADATA)) as f:
        return json.load(f)


def write_metadata(path: str, metadata: dict) -> None:
    """Writes metadata.json of a saved model directory atomically."""
    target = os.path.join(path, METADATA)
    with open(target + ".tmp", "w") as f:
        json.dump(metadata, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(target + ".tmp", target)


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


def version(metadata: dict) -> int:
    """A model's version: its identity is name + version, and a name never changes meaning within a version."""
    return int(metadata.get("version", 1))


def quality_range(metadata: dict) -> tuple[float, float] | None:
    """(lowest, highest) quality of a variable-rate model, else None."""
    qualities = metadata.get("qualities")
    return None if qualities is None else (float(qualities[0]), float(qualities[1]))


@functools.lru_cache(maxsize=None)
def _index(root: str) -> dict:
    path = os.path.join(root, ZOO_INDEX)
    if not os.path.exists(path):
        return {"default": None, "architecture_defaults": {}}
    with open(path) as f:
        return json.load(f)


def list_models() -> list[dict]:
    """Metadata of every shipped model, sorted by name."""
    root = models_dir()
    found = []
    if os.path.isdir(root):
        for name in sorted(os.listdir(root)):
            if os.path.exists(os.path.join(root, name, METADATA)):
                found.append(dict(read_metadata(os.path.join(root, name)), path=os.path.join(root, name)))
    return found


def training_stages(model: dict) -> list[dict]:
    """Every training stage behind a shipped model (warm-start donors included), oldest first."""
    record = model["training"]
    return record.get("history") or [dict(workdir=record["workdir"], steps=record["steps"],
                                          wall_time_s=record["wall_time_s"])]


def default_model() -> str:
    """Name of the CLI's default model."""
    name = _index(models_dir()).get("default")
    if not name:
        raise TfcompError(f"no default model marked in {os.path.join(models_dir(), ZOO_INDEX)}")
    return name


def family_rungs(family: str) -> list[dict]:
    """Metadata of the shipped models of one ladder (e.g. 'bls2017'), smallest files (lambda) first."""
    rungs = [m for m in list_models() if m.get("family", m["architecture"]) == family]
    # A slimmable model is a ladder by itself (its lambdas are a list); it sorts by its widest rate.
    return sorted(rungs, key=lambda m: m["config"].get("lmbda", max(m["config"].get("lambdas", [0.0]))))


def resolve(name: str | None) -> str:
    """Path of a shipped model given its full name, an architecture or ladder name, or None (the default).

    An architecture or ladder resolves to its default in zoo.json, else to its middle rung.
    """
    name = name or default_model()
    defaults = _index(models_dir()).get("architecture_defaults", {})
    rungs = family_rungs(name)
    name = defaults.get(name) or (rungs[len(rungs) // 2]["name"] if rungs else name)
    path = os.path.join(models_dir(), name)
    if os.path.basename(name) != name or not os.path.exists(os.path.join(path, METADATA)):
        known = ", ".join(m["name"] for m in list_models()) or "none"
        raise TfcompError(f"unknown model {name!r} (shipped: {known})")
    return path
