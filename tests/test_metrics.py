"""Metrics against known values, and BD-rate against hand-checked cases."""
import math

import numpy as np
import pytest

from conftest import smooth_image
from tfcomp.evaluation import bdrate, metrics


def test_mse_and_psnr_known_values():
    a = np.zeros((4, 4, 3), np.uint8)
    b = a.copy()
    b[0, 0, 0] = 48  # squared error 2304 over 48 samples -> MSE 48
    assert metrics.mse(a, b) == pytest.approx(48.0)
    assert metrics.psnr(a, b) == pytest.approx(10 * math.log10(255 ** 2 / 48))
    assert metrics.psnr(a, a) == math.inf
    assert metrics.psnr(np.zeros((2, 2, 3), np.uint8), np.full((2, 2, 3), 255, np.uint8)) == pytest.approx(0.0)


def test_ssim_and_ms_ssim():
    image = smooth_image(256, 256)
    noisy = np.clip(image.astype(int) + np.random.default_rng(0).normal(0, 12, image.shape), 0, 255).astype(np.uint8)
    assert metrics.ssim(image, image) == pytest.approx(1.0, abs=1e-6)
    assert metrics.ms_ssim(image, image) == pytest.approx(1.0, abs=1e-6)
    assert 0.3 < metrics.ms_ssim(image, noisy) < 0.999
    assert metrics.ssim(image, noisy) < metrics.ms_ssim(image, noisy)  # MS-SSIM forgives fine noise
    # Small images fall back to fewer scales instead of failing.
    assert metrics.ms_ssim_scales(256, 256) == 5 and metrics.ms_ssim_scales(64, 64) == 3
    assert 0 < metrics.ms_ssim(image[:64, :64], noisy[:64, :64]) < 1


def test_rate_helpers():
    assert metrics.bits_per_pixel(12288, 512, 768) == pytest.approx(0.25)
    assert metrics.compression_ratio(12288, 512, 768) == pytest.approx(96.0)


def test_bd_rate_hand_checked():
    rate = [0.25, 0.5, 1.0, 2.0]
    psnr = [28.0, 31.0, 34.0, 37.0]
    # Same quality with exactly 10% fewer bits everywhere: BD-rate is -10%.
    assert bdrate.bd_rate(rate, psnr, [r * 0.9 for r in rate], psnr) == pytest.approx(-10.0, abs=1e-6)
    assert bdrate.bd_rate(rate, psnr, [r * 1.25 for r in rate], psnr) == pytest.approx(25.0, abs=1e-6)
    # PSNR is linear in log2(rate) with 3 dB per doubling: +1.5 dB is half a doubling, 2^-0.5 - 1.
    assert bdrate.bd_rate(rate, psnr, rate, [q + 1.5 for q in psnr]) == pytest.approx(
        (2 ** -0.5 - 1) * 100, abs=1e-6)
    assert bdrate.bd_quality(rate, psnr, rate, [q + 0.5 for q in psnr]) == pytest.approx(0.5)
    assert math.isnan(bdrate.bd_rate(rate, psnr, rate, [q + 20 for q in psnr]))  # no overlap


def test_a_top_rung_above_jpeg_scores_better_than_one_below_it():
    """The stop-16 Kodak curves (JPEG and the bls2017 ladder) plus a 1.2 bpp rung: at 36 dB (2 dB above JPEG
    there) it must score better than at 33 dB (1 dB below). The single cubic fitted to all points (VCEG-M33)
    had it the other way round: +2.9% against -11.3%."""
    jpeg_rate = [0.173, 0.221, 0.327, 0.423, 0.508, 0.66, 0.786, 0.906, 1.037, 1.239, 1.57, 2.346, 3.392]
    jpeg_psnr = [21.48, 23.85, 26.67, 28.14, 29.14, 30.49, 31.42, 32.17, 32.91, 33.92, 35.37, 38.03, 40.56]
    rate, psnr = [0.121, 0.268, 0.427, 0.58, 0.797], [25.58, 27.7, 29.01, 29.67, 30.12]
    below, above = (bdrate.bd_rate(jpeg_rate, jpeg_psnr, rate + [1.2], psnr + [top]) for top in (33.0, 36.0))
    assert above < below - 2
    assert bdrate.bd_rate(jpeg_rate, jpeg_psnr, rate, psnr) == pytest.approx(-29.5, abs=0.1)


def test_quality_at_rate():
    assert bdrate.quality_at_rate([0.25, 1.0], [28.0, 34.0], 0.5) == pytest.approx(31.0)
    assert math.isnan(bdrate.quality_at_rate([0.25, 1.0], [28.0, 34.0], 2.0))
