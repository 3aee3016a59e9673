"""The one registry of architectures, codec families and shipped models that the CLI, the zoo and
the evaluator share."""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from tfcomp.errors import TfcompError

if TYPE_CHECKING:
    from tfcomp.codecs.base import Codec

# Architecture name -> "module:Class"; imported on use so `tfcomp --help` stays fast.
ARCHITECTURES: dict[str, str] = {
    "bls2017": "tfcomp.models.bls2017:BLS2017",
    "bmshj2018": "tfcomp.models.bmshj2018:BMSHJ2018",
    "slimcae": "tfcomp.models.slimcae:SlimCAE",
    "ms2020vr": "tfcomp.models.ms2020vr:MS2020VR",
}


# The other systems that are not shipped SavedModels train with their own procedures: name ->
# ("module:function" taking `tfcomp train`'s parsed options, "module:dict" of values for the shared options
# the user left out).
TRAINERS: dict[str, tuple[str, str]] = {
    "sdae": ("tfcomp.training.sdae_trainer:run", "tfcomp.training.sdae_trainer:DEFAULTS"),
    "resae": ("tfcomp.training.resae_trainer:train_autoencoder", "tfcomp.training.resae_trainer:AUTOENCODER_DEFAULTS"),
    "resae-denoiser": ("tfcomp.training.resae_trainer:train_denoiser",
                       "tfcomp.training.resae_trainer:DENOISER_DEFAULTS"),
    "klt": ("tfcomp.training.klt_trainer:run", "tfcomp.training.klt_trainer:DEFAULTS"),
}


def _resolve(target: str):
    """The object a "module:name" string names, importing the module on first use."""
    module, name = target.split(":")
    return getattr(importlib.import_module(module), name)


def model_class(architecture: str):
    """The Keras model class of a registered architecture."""
    if architecture not in ARCHITECTURES:
        known = sorted([*ARCHITECTURES, *TRAINERS])
        raise TfcompError(f"unknown architecture {architecture!r}; known: {', '.join(known)}")
    return _resolve(ARCHITECTURES[architecture])


def trainer(architecture: str):
    """(training function, defaults of the shared options) of another system registered in TRAINERS."""
    function, defaults = TRAINERS[architecture]
    return _resolve(function), _resolve(defaults)


CLASSIC_FAMILIES = ("jpeg", "webp", "jpeg2000", "avif")
# Codecs that are not shipped models but write .tfc files too, each with a sweep of rate points: family ->
# "module:Class", imported on use. Each class parses its own names (from_name; a bare family is its default).
FILE_CODECS: dict[str, str] = {
    "klt": "tfcomp.codecs.klt:KLTCodec",
    "resae": "tfcomp.codecs.resae:ResAECodec",
    "sdae": "tfcomp.codecs.sdae:SDAECodec",
    "shallow": "tfcomp.codecs.shallow:ShallowCodec",
}
# The baselines `tfcomp reproduce` sweeps over all of Kodak. `shallow` trains a network per image and rate
# point (minutes each), so tfcomp/evaluation/shallow_eval.py measures it instead; `resae` overfits an image set
# (tfcomp/evaluation/resae_eval.py). `sdae-deflate` is the SDAE project's own coding, one point beside our `sdae` curve.
BASELINE_FAMILIES = ("klt", "sdae", "sdae-deflate")


def _baseline(name: str | None):
    """The file codec a name denotes ('klt-q30', 'sdae', 'shallow-cnn-c64'; a bare family is its default),
    else None."""
    path = FILE_CODECS.get((name or "").split("-")[0])
    if path is None:
        return None
    return _resolve(path).from_name(name)


def codec(name: str):
    """One codec at one rate point: a classic 'jpeg-q50' / 'jpeg2000-r24', a baseline 'klt-q50' (or 'klt'),
    'sdae-q3' or 'sdae-deflate', 'shallow-lstm-c64', a shipped model's name, or 'NAME-w96' for one width
    of a slimmable model."""
    from tfcomp.codecs.classic import PillowCodec

    family, _, setting = name.rpartition("-")
    if family in CLASSIC_FAMILIES and setting[:1] in ("q", "r") and setting[1:].isdigit():
        return PillowCodec(family, int(setting[1:]))
    baseline = _baseline(name)
    if baseline is not None:
        return baseline
    from tfcomp.codecs import learned

    return learned.load(name)


def codec_family(name: str) -> list:
    """All rate points of a name: a classic codec's or baseline's sweep, every shipped model of an
    architecture or ladder ('bls2017'), or the single codec a full name denotes."""
    from tfcomp import zoo
    from tfcomp.codecs.classic import PillowCodec
    from tfcomp.codecs.learned import rate_points

    if name in CLASSIC_FAMILIES:
        return PillowCodec.sweep(name)
    if name in FILE_CODECS:
        return type(_baseline(name)).sweep()
    ladder = zoo.family_rungs(name)
    if ladder:
        return [c for m in ladder for c in rate_points(m)]
    single = codec(name)
    if getattr(single, "quality_range", None) and name == single.model_name + single.refine_suffix:
        # A variable-rate model: all its levels ('NAME-refine50': each refined).
        return rate_points(dict(single.metadata, path=single.path), single.refine)
    return [single]


def file_codec(name: str | None, width: int | None = None):
    """The codec `tfcomp compress -m NAME` writes with: a baseline point, or a shipped model (the default
    for None) at a width."""
    baseline = _baseline(name)
    if baseline is None:
        from tfcomp.codecs import learned

        return learned.load(name, width=width)
    if width is not None:
        raise TfcompError(f"--width is for slimmable models, not {name!r}")
    return baseline


def ladder(name: str | None) -> list:
    """The rungs `-q`, `--target-bpp` and `--target-psnr` choose from, smallest files first: a baseline's
    sweep, or the shipped ladder of a model or family (of the default model for None)."""
    baseline = _baseline(name)
    if baseline is not None:
        return type(baseline).sweep()
    from tfcomp.codecs import ladder as ladders

    return ladders.ladder(name)


def rung(name: str | None, quality: float) -> Codec:
    """A variable-rate model at any quality in its range, else rung `quality` (1 = smallest files) of a
    ladder or of a baseline's sweep ('klt')."""
    from tfcomp.codecs.learned import LearnedCodec

    rungs = ladder(name)
    if getattr(rungs[0], "quality_range", None):
        return LearnedCodec(rungs[0].path, quality=quality)
    if quality != int(quality) or not 1 <= quality <= len(rungs):
        raise TfcompError(f"quality must be 1..{len(rungs)} for the {rungs[0].family} ladder")
    return rungs[int(quality) - 1]


def decode_file(data: bytes, max_pixels: int | None = None, tile: int | None = None):
    """Decodes any .tfc file with the codec its header names: (uint8 RGB image, parsed container)."""
    from tfcomp.codecs import container

    c = container.unpack(data)
    return codec_for_file(c, max_pixels, tile).decode_container(c), c


def codec_for_file(c, max_pixels: int | None = None, tile: int | None = None):
    """The codec, its model loaded, that decodes a parsed file. Images above max_pixels (default: the
    container's DEFAULT_MAX_PIXELS) are refused before anything is allocated; tile: see LearnedCodec.tile."""
    from tfcomp.codecs import container, learned

    limit = container.DEFAULT_MAX_PIXELS if max_pixels is None else max_pixels
    if c.height * c.width > limit:
        raise TfcompError(f"image is {c.width}x{c.height}, above the limit of {limit} pixels (--max-pixels)")
    codec = _baseline(c.model)
    if codec is None:
        codec = learned.load_for_file(c)
        codec.tile = tile
        codec.model  # noqa: B018  (loading it now keeps its time out of the decoding's deadline)
    return codec
