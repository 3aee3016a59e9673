"""MS-SSIM as a differentiable distortion for training (tf.image), with the scale count small images allow."""
from __future__ import annotations

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
