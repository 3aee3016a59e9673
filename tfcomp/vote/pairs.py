"""The reconstructions a vote compares: codec A at its rate point, codec B at the point of its family whose
file is the nearest not smaller than A's, so B never loses for having fewer bytes."""
from __future__ import annotations

import dataclasses
import functools
import os

import numpy as np
from tqdm import tqdm

from tfcomp import registry
from tfcomp.codecs.base import Codec
from tfcomp.codecs.classic import PillowCodec
from tfcomp.data.images import image_bytes, read_image
from tfcomp.errors import TfcompError


@dataclasses.dataclass(eq=False)
class Picture:
    """One panel of a trial: the original or a reconstruction, with the codec and file size behind it."""

    pixels: np.ndarray
    codec: str = "original"
    nbytes: int = 0

    @functools.cached_property
    def png(self) -> bytes:
        """Lossless PNG of the pixels, encoded once when the page first asks for it."""
        return image_bytes(self.pixels)


@dataclasses.dataclass(eq=False)
class Pair:
    """One image with its reconstructions by A and by B at matched size."""

    image: str
    original: Picture
    a: Picture
    b: Picture


@dataclasses.dataclass(eq=False)
class Contest:
    """What a vote compares: the two contestants' labels and one pair per image."""

    label_a: str
    label_b: str
    pairs: list[Pair]


def rate_point(name: str) -> Codec:
    """Codec A: one rate point, e.g. 'bls2017-mse-2', 'bls2017' (its default) or 'jpeg-q50'."""
    if name in registry.CLASSIC_FAMILIES:
        raise TfcompError(f"codec A must be one rate point, e.g. {name}-q50, not the family {name!r}")
    return registry.codec(name)


def family_points(name: str) -> list[Codec]:
    """Codec B: every rate point of the family a name denotes or belongs to, smallest files first."""
    points = registry.codec_family(name)
    if len(points) == 1:  # a single point ('jpeg-q50', 'bls2017-mse-3') stands for its whole family
        points = registry.codec_family(points[0].family)
    return points


def matched_point(points: list[Codec], image: np.ndarray, target_bytes: int) -> tuple[Codec, bytes]:
    """The point whose file is the smallest not smaller than target_bytes (else the largest), and the file."""
    first = points[0]
    if isinstance(first, PillowCodec) and first.knob == "quality":
        # Any quality 1..100 is a valid point: search them all rather than the coarse default sweep.
        return PillowCodec.at_least(first.family, image, target_bytes)
    for codec in points:
        data = codec.encode(image)
        if len(data) >= target_bytes:
            break
    return codec, data


def prepare(image_paths: list[str], codec_a: Codec, points_b: list[Codec], label_b: str,
            progress: bool = False) -> Contest:
    """Codes every image with A, then with B at matched size, and decodes both."""
    if codec_a.name == label_b:
        raise TfcompError(f"codecs A and B are both {label_b!r}: nothing to compare")
    pairs = []
    for path in tqdm(image_paths, desc="preparing reconstructions", unit="image", disable=not progress):
        image, _, _ = read_image(path)
        data_a = codec_a.encode(image)
        codec_b, data_b = matched_point(points_b, image, len(data_a))
        pairs.append(Pair(os.path.basename(path), Picture(image),
                          Picture(codec_a.decode(data_a), codec_a.name, len(data_a)),
                          Picture(codec_b.decode(data_b), codec_b.name, len(data_b))))
    return Contest(codec_a.name, label_b, pairs)


def default_images() -> list[str]:
    """Kodak when it is present ($TFCOMP_KODAK or ../shared/datasets/kodak), else the bundled sample."""
    from tfcomp.data.kodak import kodak_dir, kodak_images
    from tfcomp.samples import SAMPLE_IMAGE

    return kodak_images() if os.path.isdir(kodak_dir()) else [SAMPLE_IMAGE]


def image_paths(specs: list[str] | None) -> list[str]:
    """Image files from folders, globs or file names (the defaults when none is given)."""
    from tfcomp.data.images import list_images

    return [path for spec in specs for path in list_images(spec)] if specs else default_images()
