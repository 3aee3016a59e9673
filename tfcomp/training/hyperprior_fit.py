"""Fits a scale hyperprior to the latents of trained transforms that stay frozen (bmshj2018 warm-started
from a bls2017 rung).

With the analysis and synthesis transforms fixed, the distortion cannot change, so the stage minimizes the
rate alone, on latents the frozen analysis transform computes once and the workdir caches: a step then
costs the hyperprior's small transforms only. The crops should be large: the hyper-latents sit at 1/64 of
the image, so 128x128 crops give them 2x2 positions, all at a border, and a hyperprior fitted on those
predicts the scales inside a Kodak image worse than one fixed scale per channel would.
"""
from __future__ import annotations

import os

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from tfcomp.data import pipeline

HYPER_PARTS = ("hyper_analysis_transform", "hyper_synthesis_transform", "hyperprior")
# Random crops (and flips) per training image; their latents are what the stage trains on.
CROPS_PER_IMAGE = 4


class HyperpriorFit(tf.keras.Model):
    """Trains the hyperprior parts of a scale-hyperprior codec on cached latents; loss = bits per pixel."""

    def __init__(self, codec: tf.keras.Model, **kwargs):
        super().__init__(**kwargs)
        self.codec = codec
        self.pixels_per_latent = codec.latent_strides[0] ** 2
        self.loss_tracker = tf.keras.metrics.Mean(name="loss")

    @property
    def metrics(self) -> list:
        """Trackers Keras resets at each epoch."""
        return [self.loss_tracker]

    def bpp(self, y: tf.Tensor, training: bool) -> tf.Tensor:
        """Bits per pixel of a batch of latents and their hyper-latents (a variable-rate codec's latents at
        levels drawn over its whole range, as in its own training)."""
        if hasattr(self.codec, "gain_units"):
            levels = self.codec.levels - 1.0
            level = tf.random.uniform(tf.shape(y)[:1], 0.0, levels) if training else \
                tf.linspace(0.0, levels, tf.shape(y)[0])
            y = y * self.codec.gain_units(level)
        _, bits = self.codec.latent_bits(y, training)
        pixels = tf.cast(tf.reduce_prod(tf.shape(y)[:-1]) * self.pixels_per_latent, bits.dtype)
        return tf.reduce_sum(bits) / pixels

    def train_step(self, y):
        """One optimizer step on the rate, hyperprior variables only."""
        parts = getattr(self.codec, "ENTROPY_PARTS", HYPER_PARTS)
        variables = [v for part in parts for v in getattr(self.codec, part).trainable_variables]
        with tf.GradientTape() as tape:
            bpp = self.bpp(y, training=True)
            scaled = bpp / tf.distribute.get_strategy().num_replicas_in_sync
        self.optimizer.apply_gradients(zip(tape.gradient(scaled, variables), variables))
        self.loss_tracker.update_state(bpp)
        return {"loss": self.loss_tracker.result()}

    def test_step(self, y):
        """The rate with hard rounding, as the codec will see it."""
        self.loss_tracker.update_state(self.bpp(y, training=False))
        return {"loss": self.loss_tracker.result()}

    def save_weights(self, *args, **kwargs):
        """Saves the codec's weights, so that WORKDIR/weights/latest warm-starts and exports like any run's."""
        return self.codec.save_weights(*args, **kwargs)


def cached_latents(codec: tf.keras.Model, images: tf.data.Dataset, patch: int, downsample: float | bool,
                   path: str) -> np.ndarray:
    """Latents of CROPS_PER_IMAGE random crops of every image (shrunk by the factor `downsample` first, if
    any), computed once and kept at `path`."""
    if os.path.exists(path):
        return np.load(path)
    latents = []
    for image in tqdm(images, desc=f"latents for {os.path.basename(path)}", unit="image"):
        if downsample:
            image = pipeline.downscale(image, float(downsample))
        for _ in range(CROPS_PER_IMAGE):
            latents.append(codec.analysis_transform(pipeline.augment(image, patch)[None])[0].numpy())
    latents = np.stack(latents)
    with open(path + ".tmp", "wb") as f:
        np.save(f, latents)
    os.replace(path + ".tmp", path)
    return latents


def latent_batches(latents: np.ndarray, batch: int, shuffle: bool = True) -> tf.data.Dataset:
    """Endless batches of cached latents."""
    dataset = tf.data.Dataset.from_tensor_slices(latents)
    if shuffle:
        dataset = dataset.shuffle(len(latents), reshuffle_each_iteration=True)
    return dataset.repeat().batch(batch, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
