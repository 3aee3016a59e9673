"""Pixel error and rate of a coded image, in NumPy: MSE, PSNR, bits per pixel, compression ratio.

Imports no TensorFlow, so the CLI and the codecs can report rates without loading it.
"""
from __future__ import annotations

import numpy as np


def mse(a: np.ndarray, b: np.ndarray) -> float:
    """Mean squared error over all pixels and channels, 0..255 scale."""
    return float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> float:
    """Peak signal-to-noise ratio in dB (infinite for identical images)."""
    error = mse(a, b)
    return float("inf") if error == 0 else float(10 * np.log10(peak ** 2 / error))


def bits_per_pixel(num_bytes: int, height: int, width: int) -> float:
    """Rate of a file in bits per pixel of the image it holds."""
    return 8.0 * num_bytes / (height * width)


def compression_ratio(num_bytes: int, height: int, width: int, channels: int = 3) -> float:
    """Raw 8-bit size divided by the compressed size."""
    return height * width * channels / num_bytes
