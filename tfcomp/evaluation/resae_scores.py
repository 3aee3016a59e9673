"""The residual-autoencoder essay's scores: its Q score and its compression ratio, which counts the decoder.

Q score (`q_score`): alpha * mean(min-max normalised PSNR) + (1 - alpha) * mean(SSIM), alpha = 0.5, the
normalisation over every PSNR being compared (pass the same `psnr_range` to compare systems).
"""
from __future__ import annotations

import numpy as np

from tfcomp.models.resae import IMAGE_SIZE

RAW_BYTES = IMAGE_SIZE * IMAGE_SIZE * 3  # 196,608: the essay's uncompressed size


def q_score(psnrs, ssims, alpha: float = 0.5, psnr_range: tuple[float, float] | None = None) -> float:
    """The essay's Q = alpha * mean(min-max normalised PSNR) + (1 - alpha) * mean(SSIM).

    psnr_range is (min, max) of PSNR_all, every PSNR in the comparison; default: these PSNRs' own range."""
    psnrs, ssims = np.asarray(psnrs, np.float64), np.asarray(ssims, np.float64)
    low, high = psnr_range if psnr_range is not None else (psnrs.min(), psnrs.max())
    normalised = (psnrs - low) / (high - low) if high > low else np.zeros_like(psnrs)
    return float(alpha * normalised.mean() + (1 - alpha) * ssims.mean())


def compression_ratio(decoder_bytes: int, n_images: int, latent_bytes_per_image: float,
                      raw_bytes: int = RAW_BYTES) -> float:
    """The essay's ratio: (decoder bytes / n_images + latent bytes per image) / raw bytes (smaller is better)."""
    return (decoder_bytes / n_images + latent_bytes_per_image) / raw_bytes
