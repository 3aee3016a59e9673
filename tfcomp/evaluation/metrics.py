"""Image quality and rate metrics: MSE, PSNR, SSIM, MS-SSIM (tf.image), bpp, compression ratio."""
from __future__ import annotations

import functools

import numpy as np
import tensorflow as tf

# Wang et al. (2003) weights of the five MS-SSIM scales.
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
SSIM_FILTER = 11


def ms_ssim_scales(height: int, width: int) -> int:
    """How many MS-SSIM scales fit an image: each scale halves it and needs the 11x11 window."""
    scales = 1
    while scales < len(MS_SSIM_WEIGHTS) and min(height, width) // 2 ** scales >= SSIM_FILTER:
        scales += 1
    return scales


def ms_ssim_tf(x: tf.Tensor, y: tf.Tensor, max_val: float = 255.0) -> tf.Tensor:
    """MS-SSIM per image of (B, H, W, C) tensors; small images use the leading scales, renormalized.

    The scale count comes from the static shape; unknown sizes (symbolic builds) assume all five.
    """
    height, width = (dim if dim is not None else 1 << 20 for dim in x.shape[-3:-1])
    scales = ms_ssim_scales(height, width)
    weights = np.asarray(MS_SSIM_WEIGHTS[:scales])
    return tf.image.ssim_multiscale(x, y, max_val, power_factors=tuple(weights / weights.sum()))


def mse(a: np.ndarray, b: np.ndarray) -> float:
    """Mean squared error over all pixels and channels, 0..255 scale."""
    return float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> float:
    """Peak signal-to-noise ratio in dB (infinite for identical images)."""
    error = mse(a, b)
    return float("inf") if error == 0 else float(10 * np.log10(peak ** 2 / error))


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


def bits_per_pixel(num_bytes: int, height: int, width: int) -> float:
    """Rate of a file in bits per pixel of the image it holds."""
    return 8.0 * num_bytes / (height * width)


def compression_ratio(num_bytes: int, height: int, width: int, channels: int = 3) -> float:
    """Raw 8-bit size divided by the compressed size."""
    return height * width * channels / num_bytes
