"""The residual autoencoder's denoiser post-filter (tfcomp/models/resae.py), a small dense-block network.

The denoiser (`build_denoiser`, after Wang et al. 2024 as the essay describes it; < 1M parameters): conv
3x3 3 -> 64, three dense blocks (each four conv 3x3 + ReLU layers of growth 32, every layer seeing the
block input and all earlier outputs, then a 1x1 convolution back to 64 channels with a residual add),
channel attention (global average pool -> 1x1 -> ReLU -> 1x1 -> sigmoid -> scale), conv 3x3 -> 3. We add a
global residual (the output is input + predicted correction, clipped to [0, 1]): the essay's figure shows
one, and it makes an untrained or briefly trained denoiser start as the identity, so a short CPU training
cannot lose much quality. It is fully convolutional; it trains on random crops of (reconstruction,
original) pairs and runs on whole 256x256 tiles (the attention's global pool then averages a larger area
than in training, which is the usual practice for such filters).
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfcomp.models.resae import ssim_01, to_uint8


def build_denoiser(features: int = 64, blocks: int = 3, layers_per_block: int = 4, growth: int = 32,
                   reduction: int = 4) -> tf.keras.Model:
    """The lightweight post-filter: images (B, H, W, 3) in [0, 1] -> denoised images in [0, 1]."""
    layers = tf.keras.layers
    noisy = tf.keras.Input((None, None, 3), name="reconstruction")
    x = layers.Conv2D(features, 3, padding="same", name="dn_in")(noisy)
    for b in range(blocks):
        inputs = [x]
        for i in range(layers_per_block):
            source = inputs[0] if i == 0 else layers.Concatenate(name=f"dn_b{b}_cat{i}")(inputs)
            inputs.append(layers.Conv2D(growth, 3, padding="same", activation="relu", name=f"dn_b{b}_conv{i}")(source))
        fused = layers.Conv2D(features, 1, name=f"dn_b{b}_fuse")(layers.Concatenate(name=f"dn_b{b}_cat")(inputs))
        x = layers.Add(name=f"dn_b{b}_add")([x, fused])  # local residual: shallow features reach deep layers
    # Channel attention: weights per channel from the global average of each feature map.
    weights = layers.GlobalAveragePooling2D(keepdims=True, name="dn_ca_pool")(x)
    weights = layers.Conv2D(features // reduction, 1, activation="relu", name="dn_ca_down")(weights)
    weights = layers.Conv2D(features, 1, activation="sigmoid", name="dn_ca_up")(weights)
    x = layers.Multiply(name="dn_ca_scale")([x, weights])
    # The correction starts at zero, so the untrained filter is the identity (module docstring).
    correction = layers.Conv2D(3, 3, padding="same", kernel_initializer="zeros", name="dn_out")(x)
    out = layers.Add(name="dn_residual")([noisy, correction])
    return tf.keras.Model(noisy, tf.clip_by_value(out, 0.0, 1.0), name="denoiser")


class DenoiserTrainer(tf.keras.Model):
    """Fits a denoiser on (reconstruction, original) pairs in [0, 1]; loss MSE."""

    def __init__(self, denoiser: tf.keras.Model, **kwargs):
        super().__init__(**kwargs)
        self.denoiser = denoiser
        self.loss_tracker = tf.keras.metrics.Mean(name="loss")
        self.ssim_tracker = tf.keras.metrics.Mean(name="ssim")

    @property
    def metrics(self) -> list:
        """Trackers Keras resets at each epoch."""
        return [self.loss_tracker, self.ssim_tracker]

    def call(self, x, training: bool = False):
        """Reconstructions -> denoised."""
        return self.denoiser(x, training=training)

    def _step(self, data, train: bool) -> dict:
        noisy, clean = data
        with tf.GradientTape() as tape:
            out = self(noisy, training=train)
            loss = tf.reduce_mean(tf.math.squared_difference(clean, out))
        if train:
            variables = self.denoiser.trainable_variables
            self.optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        self.loss_tracker.update_state(loss)
        self.ssim_tracker.update_state(tf.reduce_mean(ssim_01(clean, out)))
        return {m.name: m.result() for m in self.metrics}

    def train_step(self, data):
        """One Adam step on the MSE of a batch of pairs."""
        return self._step(data, True)

    def test_step(self, data):
        """Validation loss and SSIM."""
        return self._step(data, False)


def denoise(denoiser: tf.keras.Model, images: np.ndarray, batch: int = 4) -> np.ndarray:
    """uint8 images -> uint8 denoised images."""
    out = [to_uint8(denoiser(tf.constant(images[i:i + batch], tf.float32) / 255.0, training=False))
           for i in range(0, len(images), batch)]
    return np.concatenate(out)
