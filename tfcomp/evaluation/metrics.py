"""Image quality and rate metrics for evaluation: SSIM and MS-SSIM of uint8 images (tf.image), beside the
NumPy measures of tfcomp.measures (MSE, PSNR, bpp, compression ratio)."""
from __future__ import annotations

import functools

import numpy as np
import tensorflow as tf

from tfcomp.measures import bits_per_pixel, compression_ratio, mse, psnr  # noqa: F401  (the pixel measures)
from tfcomp.models.losses import MS_SSIM_WEIGHTS, ms_ssim_scales


@functools.lru_cache(maxsize=None)
def _structural_similarity(scales: int):
    """A graph-compiled (SSIM, MS-SSIM) of two uint8 images, for one number of MS-SSIM scales."""
    weights = np.asarray(MS_SSIM_WEIGHTS[:scales])
    weights = tuple(weights / weights.sum())

    @tf.function(input_signature=[tf.TensorSpec((None, None, 3), tf.uint8)] * 2)
    def both(a, b):
        """(SSIM, MS-SSIM) of two uint8 (H, W, 3) images."""
        x, y = tf.cast(a, tf.float32)[None], tf.cast(b, tf.float32)[None]
        return tf.image.ssim(x, y, 255.0)[0], tf.image.ssim_multiscale(x, y, 255.0, power_factors=weights)[0]

    return both


def ssim_and_ms_ssim(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """SSIM (11x11 Gaussian window) and MS-SSIM (5 scales where the image is large enough) of uint8 images."""
    ssim_value, ms_ssim_value = _structural_similarity(ms_ssim_scales(*a.shape[:2]))(a, b)
    return float(ssim_value), float(ms_ssim_value)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Single-scale SSIM of two uint8 images."""
    return ssim_and_ms_ssim(a, b)[0]


def ms_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """MS-SSIM of two uint8 images."""
    return ssim_and_ms_ssim(a, b)[1]
