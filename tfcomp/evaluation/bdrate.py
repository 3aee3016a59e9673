"""Bjøntegaard delta rate and delta quality between two rate-distortion curves (VCEG-M33)."""
from __future__ import annotations

import numpy as np


def _integrate_fit(x: np.ndarray, y: np.ndarray, low: float, high: float) -> float:
    """Integral over [low, high] of the cubic polynomial fitted to y(x)."""
    order = min(3, len(x) - 1)
    antiderivative = np.polyint(np.polyfit(x, y, order))
    return float(np.polyval(antiderivative, high) - np.polyval(antiderivative, low))


def _clean(rate, quality) -> tuple[np.ndarray, np.ndarray]:
    rate = np.asarray(rate, dtype=np.float64)
    quality = np.asarray(quality, dtype=np.float64)
    keep = np.isfinite(rate) & np.isfinite(quality) & (rate > 0)
    if keep.sum() < 2:
        raise ValueError("a BD curve needs at least two finite points")
    order = np.argsort(rate[keep])
    return rate[keep][order], quality[keep][order]


def bd_rate(rate_ref, quality_ref, rate_test, quality_test) -> float:
    """Average bitrate difference (%) of the test curve against the reference at equal quality.

    Negative means the test codec needs fewer bits. Fits log-rate as a cubic in quality over the
    overlapping quality interval; NaN when the curves do not overlap.
    """
    r1, q1 = _clean(rate_ref, quality_ref)
    r2, q2 = _clean(rate_test, quality_test)
    low, high = max(q1.min(), q2.min()), min(q1.max(), q2.max())
    if high <= low:
        return float("nan")
    mean1 = _integrate_fit(q1, np.log(r1), low, high) / (high - low)
    mean2 = _integrate_fit(q2, np.log(r2), low, high) / (high - low)
    return float((np.exp(mean2 - mean1) - 1) * 100)


def bd_quality(rate_ref, quality_ref, rate_test, quality_test) -> float:
    """Average quality difference (e.g. dB PSNR) of the test curve at equal rate; NaN without overlap."""
    r1, q1 = _clean(rate_ref, quality_ref)
    r2, q2 = _clean(rate_test, quality_test)
    l1, l2 = np.log(r1), np.log(r2)
    low, high = max(l1.min(), l2.min()), min(l1.max(), l2.max())
    if high <= low:
        return float("nan")
    return (_integrate_fit(l2, q2, low, high) - _integrate_fit(l1, q1, low, high)) / (high - low)


def quality_at_rate(rate, quality, target_rate: float) -> float:
    """Quality of a curve at one rate by linear interpolation in log-rate; NaN outside the curve."""
    r, q = _clean(rate, quality)
    if not r[0] <= target_rate <= r[-1]:
        return float("nan")
    return float(np.interp(np.log(target_rate), np.log(r), q))
