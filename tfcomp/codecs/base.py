"""The one interface every codec implements, so evaluation never special-cases learned vs classic."""
from __future__ import annotations

import abc
from typing import Callable

import numpy as np


class Codec(abc.ABC):
    """Encodes a uint8 RGB image to bytes and back, at one fixed rate point."""

    family: str = "codec"
    """Name of the rate-distortion curve this codec is one point of (e.g. 'jpeg', 'bls2017')."""

    @property
    @abc.abstractmethod
    def name(self) -> str:
        """Unique name of this rate point, e.g. 'jpeg-q50' or 'bls2017-mse-2'."""

    @abc.abstractmethod
    def encode(self, image: np.ndarray) -> bytes:
        """uint8 (H, W, 3) image -> file bytes."""

    @abc.abstractmethod
    def decode(self, data: bytes) -> np.ndarray:
        """File bytes -> uint8 (H, W, 3) image."""

    def stages(self, image: np.ndarray, data: bytes) -> dict[str, Callable[[], object]]:
        """Named zero-argument calls to time for this image; learned codecs split out their stages."""
        return {"encode": lambda: self.encode(image), "decode": lambda: self.decode(data)}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


def lowest_setting_at_least(make: Callable[[int], Codec], image: np.ndarray, target_bytes: int,
                            low: int = 1, high: int = 100) -> tuple[Codec, bytes]:
    """The codec make(s) of the lowest setting in low..high whose file is not smaller than target_bytes
    (else the highest setting), and its file; file sizes must grow with the setting."""
    best, top = None, high
    while low <= high:  # binary search
        mid = (low + high) // 2
        codec = make(mid)
        data = codec.encode(image)
        if len(data) >= target_bytes:
            best, high = (codec, data), mid - 1
        else:
            low = mid + 1
    return best or (make(top), make(top).encode(image))
