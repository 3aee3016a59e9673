"""Classic codecs through Pillow: JPEG (4:2:0), WebP, JPEG 2000 (lossy 9/7 + colour transform), AVIF."""
from __future__ import annotations

import io

import numpy as np
from PIL import Image, features

from tfcomp.codecs.base import Codec, lowest_setting_at_least
from tfcomp.errors import TfcompError


class PillowCodec(Codec):
    """One Pillow format at one quality setting."""

    # family -> (Pillow format, fixed save options, name of the swept option, default sweep)
    FORMATS = {
        "jpeg": ("JPEG", {"subsampling": "4:2:0"}, "quality", (1, 5, 10, 15, 20, 30, 40, 50, 60, 70, 80, 90, 95)),
        "webp": ("WEBP", {"method": 6}, "quality", (1, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95)),
        # quality_layers with quality_mode="rates" is a compression ratio: 24 bpp / ratio.
        "jpeg2000": ("JPEG2000", {"irreversible": True, "mct": 1, "quality_mode": "rates"}, "ratio",
                     (200, 150, 100, 75, 50, 35, 25, 18, 12, 8)),
        "avif": ("AVIF", {"speed": 6, "subsampling": "4:2:0"}, "quality", (5, 10, 20, 30, 40, 50, 60, 70, 80, 90)),
    }

    def __init__(self, family: str, setting: int):
        if family not in self.FORMATS:
            raise TfcompError(f"unknown classic codec {family!r}")
        self.family = family
        self.setting = setting
        self.format, self.options, self.knob, _ = self.FORMATS[family]

    @property
    def name(self) -> str:
        """e.g. 'jpeg-q50' or 'jpeg2000-r24'."""
        return f"{self.family}-{self.knob[0]}{self.setting}"

    @classmethod
    def available(cls, family: str) -> bool:
        """Whether this Pillow build can write the format."""
        feature = {"jpeg": "jpg", "webp": "webp", "jpeg2000": "jpg_2000", "avif": "avif"}[family]
        return bool(features.check(feature))

    @classmethod
    def sweep(cls, family: str) -> list["PillowCodec"]:
        """The default ladder of settings, smallest files first."""
        return [cls(family, s) for s in cls.FORMATS[family][3]]

    @classmethod
    def at_least(cls, family: str, image: np.ndarray, target_bytes: int) -> tuple["PillowCodec", bytes]:
        """The lowest quality (1..100) whose file is not smaller than target_bytes (else quality 100)."""
        return lowest_setting_at_least(lambda quality: cls(family, quality), image, target_bytes)

    def encode(self, image: np.ndarray) -> bytes:
        """Compresses with Pillow at this setting."""
        buffer = io.BytesIO()
        options = dict(self.options)
        if self.knob == "ratio":
            options["quality_layers"] = [self.setting]
        else:
            options["quality"] = self.setting
        Image.fromarray(image, "RGB").save(buffer, format=self.format, **options)
        return buffer.getvalue()

    def decode(self, data: bytes) -> np.ndarray:
        """Decompresses to uint8 RGB."""
        with Image.open(io.BytesIO(data)) as image:
            return np.asarray(image.convert("RGB"), dtype=np.uint8)
