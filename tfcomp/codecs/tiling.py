"""Large images with bounded memory: the transforms run on overlapping tiles, the entropy coder on the whole
latent tensor.

Each tile is extended by MARGIN pixels of its neighbours' content, more than the receptive field of any
shipped transform reaches (analysis: 30 pixels; synthesis: 2 latents, 32 pixels), and only its own part of
the result is kept. So the latents and pixels of a tiled run are those of a whole-image run, up to float
rounding: there is no seam to hide, and the file is the same format (the latents are coded whole), which any
decoder reads whether it tiles or not. Memory is a tile's activations plus the image and its latents.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

# Tile side in pixels (a multiple of the latent stride) and the context each tile gets on every side.
TILE = 1024
MARGIN = 64
# Images above this many pixels are tiled unless the caller says otherwise (a 2048x2048 image untiled takes
# about 2 GB with the widest shipped transforms).
AUTO_PIXELS = 1 << 22


def tile_size(height: int, width: int, tile: int | None) -> int:
    """The tile side to use: `tile` if given (0 = never tile), else TILE above AUTO_PIXELS, else 0."""
    if tile is None:
        return TILE if height * width > AUTO_PIXELS else 0
    return tile


def spans(length: int, tile: int, margin: int) -> list[tuple[int, int, int, int]]:
    """Along one axis of `length` samples: (start, stop) of each tile and (start, stop) of it with margin."""
    result = []
    for start in range(0, length, tile):
        stop = min(start + tile, length)
        result.append((start, stop, max(0, start - margin), min(length, stop + margin)))
    return result


def _check(tile: int, stride: int) -> None:
    if tile <= 0 or tile % stride or MARGIN % stride:
        raise ValueError(f"tile side {tile} and margin {MARGIN} must be positive multiples of the stride {stride}")


def analyze(analyze: Callable[[np.ndarray], np.ndarray], image: np.ndarray, stride: int, tile: int) -> np.ndarray:
    """Latents (1, ceil(H/s), ceil(W/s), C) of an image, computed tile by tile by analyze(image crop)."""
    _check(tile, stride)
    height, width = image.shape[:2]
    latents = None
    for top, bottom, top_m, bottom_m in spans(height, tile, MARGIN):
        for left, right, left_m, right_m in spans(width, tile, MARGIN):
            y = np.asarray(analyze(image[top_m:bottom_m, left_m:right_m]))
            if latents is None:
                latents = np.empty((1, math.ceil(height / stride), math.ceil(width / stride), y.shape[-1]), y.dtype)
            # Crops start at multiples of the stride, so crop latent j is image latent top_m / s + j.
            rows = slice((top - top_m) // stride, (top - top_m) // stride + math.ceil(bottom / stride) - top // stride)
            cols = slice((left - left_m) // stride,
                         (left - left_m) // stride + math.ceil(right / stride) - left // stride)
            latents[:, top // stride:math.ceil(bottom / stride), left // stride:math.ceil(right / stride)] = \
                y[:, rows, cols]
    return latents


def synthesize(synthesize: Callable[[np.ndarray, tuple[int, int]], np.ndarray], latents: np.ndarray,
               height: int, width: int, stride: int, tile: int) -> np.ndarray:
    """The uint8 image (H, W, 3) of decoded latents, made tile by tile by synthesize(latent crop, crop size)."""
    _check(tile, stride)
    image = np.empty((height, width, 3), np.uint8)
    rows, cols = latents.shape[1:3]
    for top, bottom, top_m, bottom_m in spans(rows, tile // stride, MARGIN // stride):
        for left, right, left_m, right_m in spans(cols, tile // stride, MARGIN // stride):
            x = np.asarray(synthesize(latents[:, top_m:bottom_m, left_m:right_m],
                                      ((bottom_m - top_m) * stride, (right_m - left_m) * stride)))
            pixel_rows = min(bottom * stride, height) - top * stride
            pixel_cols = min(right * stride, width) - left * stride
            row0, col0 = (top - top_m) * stride, (left - left_m) * stride
            image[top * stride:top * stride + pixel_rows, left * stride:left * stride + pixel_cols] = \
                x[row0:row0 + pixel_rows, col0:col0 + pixel_cols]
    return image
