"""Quality ladders: the shipped models of one family ordered by rate, and picking a rung for a target."""
from __future__ import annotations

import dataclasses

import numpy as np

from tfcomp import zoo
from tfcomp.codecs.base import Codec
from tfcomp.codecs.learned import LearnedCodec, rate_points
from tfcomp.errors import TfcompError
from tfcomp.evaluation import metrics


def ladder(name: str | None) -> list[LearnedCodec]:
    """Rungs of the ladder of a family/architecture (or of the default model), smallest files first."""
    family = LearnedCodec(zoo.resolve(name)).family
    return [codec for m in zoo.family_rungs(family) for codec in rate_points(m)]


def rung(name: str | None, quality: int):
    """Rung `quality` (1 = smallest files) of a ladder, or of a baseline's sweep ('klt')."""
    from tfcomp import registry

    rungs = registry.ladder(name)
    if not 1 <= quality <= len(rungs):
        raise TfcompError(f"quality must be 1..{len(rungs)} for the {rungs[0].family} ladder")
    return rungs[quality - 1]


@dataclasses.dataclass
class Choice:
    """The rung picked for one image, its file, and a warning when no rung met the target."""

    codec: Codec
    data: bytes
    bpp: float
    psnr: float | None
    warning: str | None = None


def choose(rungs: list[Codec], image: np.ndarray, grayscale: bool = False,
           target_bpp: float | None = None, target_psnr: float | None = None) -> Choice:
    """Cheapest rung whose PSNR reaches target_psnr, or best rung whose bpp stays within target_bpp."""
    height, width = image.shape[:2]
    best = None
    for codec in rungs:
        data = codec.encode(image, grayscale=grayscale)
        bpp = metrics.bits_per_pixel(len(data), height, width)
        if target_psnr is not None:
            psnr = metrics.psnr(image, codec.decode(data))
            best = Choice(codec, data, bpp, psnr)
            if psnr >= target_psnr:
                return best
        elif bpp <= target_bpp:
            best = Choice(codec, data, bpp, None)
        else:
            break
    if target_psnr is not None:
        best.warning = f"no rung reaches {target_psnr} dB; used the top rung ({best.psnr:.2f} dB)"
        return best
    if best is None:
        data = rungs[0].encode(image, grayscale=grayscale)
        best = Choice(rungs[0], data, metrics.bits_per_pixel(len(data), height, width), None,
                      warning=f"no rung fits {target_bpp} bpp; used the smallest rung")
    return best
