"""The shipped models in saved_models/: listing, defaults, and lookup by name or architecture."""
from __future__ import annotations

import functools
import json
import os

from tfcomp.errors import TfcompError

ZOO_INDEX = "zoo.json"


def models_dir() -> str:
    """Where shipped models live: $TFCOMP_MODELS, else saved_models/ beside the package."""
    default = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "saved_models")
    return os.environ.get("TFCOMP_MODELS", default)


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
            meta = os.path.join(root, name, "metadata.json")
            if os.path.exists(meta):
                with open(meta) as f:
                    found.append(dict(json.load(f), path=os.path.join(root, name)))
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
    """Metadata of the shipped models of one ladder (e.g. 'bls2017-2L'), smallest files (lambda) first."""
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
    if os.path.basename(name) != name or not os.path.exists(os.path.join(path, "metadata.json")):
        known = ", ".join(m["name"] for m in list_models()) or "none"
        raise TfcompError(f"unknown model {name!r} (shipped: {known})")
    return path
