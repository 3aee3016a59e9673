"""Quality ladders: the shipped models of one family ordered by rate, and picking a rung for a target."""
from __future__ import annotations

import copy
import dataclasses

import numpy as np

from tfcomp import measures, zoo
from tfcomp.codecs import container
from tfcomp.codecs.base import Codec
from tfcomp.codecs.learned import LearnedCodec, rate_points


def ladder(name: str | None) -> list[LearnedCodec]:
    """Rungs of the ladder of a family/architecture (or of the default model), smallest files first."""
    family = LearnedCodec(zoo.resolve(name)).family
    return [codec for m in zoo.family_rungs(family) for codec in rate_points(m)]


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
        bpp = measures.bits_per_pixel(len(data), height, width)
        if target_psnr is not None:
            psnr = measures.psnr(image, codec.decode(data))
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
        best = Choice(rungs[0], data, measures.bits_per_pixel(len(data), height, width), None,
                      warning=f"no rung fits {target_bpp} bpp; used the smallest rung")
    return best


# --target-bpp on a variable-rate model stops once the file is within this fraction below the target.
BPP_TOLERANCE = 0.03
# --target-psnr stops when the bracketing qualities are this close.
PSNR_QUALITY_STEP = 0.01


def choose_quality(codec: LearnedCodec, image: np.ndarray, grayscale: bool = False,
                   target_bpp: float | None = None, target_psnr: float | None = None) -> Choice:
    """Bisection on a variable-rate model's quality, on real files: the largest file within target_bpp (and
    within BPP_TOLERANCE of it where the range allows), or the smallest file that reaches target_psnr."""
    height, width = image.shape[:2]
    low, high = codec.quality_range

    def code(quality: float) -> Choice:
        codec.set_quality(quality)
        data = codec.encode(image, grayscale=grayscale)
        psnr = measures.psnr(image, codec.decode(data)) if target_psnr is not None else None
        return Choice(copy.copy(codec), data,
                      measures.bits_per_pixel(len(data), height, width), psnr)

    def good(choice: Choice) -> bool:
        return choice.psnr >= target_psnr if target_psnr is not None else choice.bpp <= target_bpp

    below, above = code(low), code(high)
    if not good(below) and target_bpp is not None:
        below.warning = f"no quality fits {target_bpp} bpp; used the lowest ({low:g}, {below.bpp:.4f} bpp)"
        return below
    if good(above) == (target_bpp is not None):
        # Every quality fits the size, or none reaches the PSNR: the top quality either way.
        if target_psnr is not None:
            above.warning = f"no quality reaches {target_psnr} dB; used the highest ({above.psnr:.2f} dB)"
        return above
    if target_psnr is not None and good(below):
        return below
    while above.codec.quality - below.codec.quality > 2 / container.QUALITY_SCALE:
        if target_bpp is not None and below.bpp >= (1 - BPP_TOLERANCE) * target_bpp:
            break
        if target_psnr is not None and above.codec.quality - below.codec.quality <= PSNR_QUALITY_STEP:
            break
        middle = code((below.codec.quality + above.codec.quality) / 2)
        if good(middle) == (target_bpp is not None):
            below = middle
        else:
            above = middle
    return below if target_bpp is not None else above
