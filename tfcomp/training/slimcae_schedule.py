"""Lambda scheduling for SlimCAE (Yang et al. 2021, as in their reference code's train_loop).

After a first training stage with all widths, the pairs of adjacent widths are visited from the widest:
the lambdas of every width narrower than the pair's wider one are scaled by 0.8, the model trains a
little, and the RD slope dPSNR/dbpp between the pair is measured again. The pair is done as soon as the
slope stops falling (rises above the previous try's) or after 7 tries; the last lambdas are kept. The
training and measuring are callables, so this runs with any training loop and any data.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Callable, Sequence

import numpy as np

# A width's (bpp, PSNR in dB), widest first.
RatePoints = Sequence[tuple[float, float]]

FACTOR = 0.8
MAX_TRIES = 7


def rd_slope(wider: tuple[float, float], narrower: tuple[float, float]) -> float:
    """dPSNR/dbpp between two (bpp, PSNR) points; infinite (with the PSNR gap's sign) at equal rates."""
    rate_gap, psnr_gap = wider[0] - narrower[0], wider[1] - narrower[1]
    if rate_gap == 0:
        return math.copysign(math.inf, psnr_gap)
    return psnr_gap / rate_gap


@dataclasses.dataclass(frozen=True)
class Try:
    """One scaling of the lambdas for one pair of adjacent widths, and what it measured."""

    pair: int
    attempt: int
    lambdas: tuple[float, ...]
    slope_before: float
    slope: float


def schedule_lambdas(lambdas: Sequence[float], train: Callable[[list[float]], None],
                     measure: Callable[[], RatePoints], factor: float = FACTOR,
                     max_tries: int = MAX_TRIES) -> tuple[list[float], list[Try]]:
    """Runs the schedule from a trained model: train(lambdas) trains a little with those lambdas,
    measure() gives every width's (bpp, PSNR). Returns the final lambdas and every try."""
    lambdas = [float(v) for v in lambdas]
    points = measure()
    tries = []
    for pair in range(len(lambdas) - 1):
        previous = rd_slope(points[pair], points[pair + 1])
        for attempt in range(1, max_tries + 1):
            lambdas[pair + 1:] = [factor * v for v in lambdas[pair + 1:]]
            train(list(lambdas))
            points = measure()
            slope = rd_slope(points[pair], points[pair + 1])
            tries.append(Try(pair, attempt, tuple(lambdas), previous, slope))
            if slope > previous:
                break
            previous = slope
    return lambdas, tries


def measure_widths(model, images: Sequence[np.ndarray]) -> list[tuple[float, float]]:
    """Mean (bpp of the real coded strings, PSNR of the decoded image) of each width of a SlimCAE
    model (coding enabled) over uint8 RGB images: a ready `measure` for schedule_lambdas."""
    import tensorflow as tf

    from tfcomp.evaluation.metrics import psnr

    points = []
    for index in range(len(model.widths)):
        rates, psnrs = [], []
        for image in images:
            strings, shapes = model.compress(image, index)
            decoded = model.decompress(strings, tf.constant(image.shape[:2], tf.int32), shapes, index)
            rates.append(8.0 * sum(len(s) for s in strings.numpy()) / (image.shape[0] * image.shape[1]))
            psnrs.append(psnr(image, decoded.numpy()))
        points.append((float(np.mean(rates)), float(np.mean(psnrs))))
    return points


def estimate_widths(model, images: Sequence[np.ndarray]) -> list[tuple[float, float]]:
    """Mean (ideal bpp of the rounded latents under the current priors, PSNR of the rounded reconstruction)
    of each width over uint8 RGB images: a `measure` for schedule_lambdas in the middle of training, when
    the range-coding tables (and the traced coding functions) would be stale."""
    import tensorflow as tf
    import tensorflow_compression as tfc

    from tfcomp.evaluation.metrics import psnr

    points = []
    for index, width in enumerate(model.widths):
        entropy_model = tfc.ContinuousBatchedEntropyModel(model.priors[index], coding_rank=3, compression=False)
        rates, psnrs = [], []
        for image in images:
            x = tf.cast(image[None], model.compute_dtype)
            y_hat, bits = entropy_model(model.analysis_transform(x, width), training=False)
            x_hat = model.synthesis_transform(y_hat, width)[0, :image.shape[0], :image.shape[1]]
            rates.append(float(bits[0]) / (image.shape[0] * image.shape[1]))
            psnrs.append(psnr(image, tf.saturate_cast(tf.round(x_hat), tf.uint8).numpy()))
        points.append((float(np.mean(rates)), float(np.mean(psnrs))))
    return points
