"""The one registry of architectures, codec families and shipped models that the CLI, the zoo and
the evaluator share."""
from __future__ import annotations

import importlib

from tfcomp.errors import TfcompError

# Architecture name -> "module:Class"; imported on use so `tfcomp --help` stays fast.
ARCHITECTURES: dict[str, str] = {
    "bls2017": "tfcomp.models.bls2017:BLS2017",
    "bmshj2018": "tfcomp.models.bmshj2018:BMSHJ2018",
    "slimcae": "tfcomp.models.slimcae:SlimCAE",
}


def model_class(architecture: str):
    """The Keras model class of a registered architecture."""
    if architecture not in ARCHITECTURES:
        raise TfcompError(f"unknown architecture {architecture!r}; known: {', '.join(sorted(ARCHITECTURES))}")
    module, cls = ARCHITECTURES[architecture].split(":")
    return getattr(importlib.import_module(module), cls)


CLASSIC_FAMILIES = ("jpeg", "webp", "jpeg2000", "avif")


def codec(name: str):
    """One codec at one rate point: a classic 'jpeg-q50' / 'jpeg2000-r24', a shipped model's name, or
    'NAME-w96' for one width of a slimmable model."""
    from tfcomp.codecs.classic import PillowCodec

    family, _, setting = name.rpartition("-")
    if family in CLASSIC_FAMILIES and setting[:1] in ("q", "r") and setting[1:].isdigit():
        return PillowCodec(family, int(setting[1:]))
    from tfcomp.codecs import learned

    return learned.load(name)


def codec_family(name: str) -> list:
    """All rate points of a name: a classic codec's sweep, every shipped model of an architecture or
    ladder ('bls2017'), or the single codec a full name denotes."""
    from tfcomp import zoo
    from tfcomp.codecs.classic import PillowCodec
    from tfcomp.codecs.learned import rate_points

    if name in CLASSIC_FAMILIES:
        return PillowCodec.sweep(name)
    ladder = zoo.family_rungs(name)
    if ladder:
        return [c for m in ladder for c in rate_points(m)]
    return [codec(name)]
