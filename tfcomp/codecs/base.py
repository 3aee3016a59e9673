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
