"""What every learned codec model shares: the rate-distortion loss, Keras train/test steps and the
compress/decompress tf.functions built from each model's four coding stages."""
from __future__ import annotations

import hashlib

import numpy as np
import tensorflow as tf

from tfcomp.errors import TfcompError
from tfcomp.models.losses import ms_ssim_tf

DISTORTIONS = ("mse", "ms-ssim")


class CodecModel(tf.keras.Model):
    """Base of the learned codecs. Subclasses build analysis_transform and synthesis_transform and
    define call(), enable_coding() and the entropy stages entropy_encode and entropy_decode
    (tf.functions with input signatures)."""

    architecture = "abstract"
    # Attribute names of the trainable parts, for warm starts and freezing.
    PARTS: tuple[str, ...] = ("analysis_transform", "synthesis_transform")

    def __init__(self, lmbda: float, distortion: str = "mse", **kwargs):
        super().__init__(**kwargs)
        if distortion not in DISTORTIONS:
            raise ValueError(f"unknown distortion {distortion!r}; choose from {DISTORTIONS}")
        self.lmbda = lmbda
        self.distortion = distortion
        self.loss_tracker = tf.keras.metrics.Mean(name="loss")
        self.bpp_tracker = tf.keras.metrics.Mean(name="bpp")
        self.mse_tracker = tf.keras.metrics.Mean(name="mse")
        self.frozen_parts: tuple[str, ...] = ()

    def freeze(self, parts: tuple[str, ...] | list[str]) -> None:
        """Keeps the named parts fixed during training (e.g. train a new decoder for a trained encoder)."""
        unknown = sorted(set(parts) - set(self.PARTS))
        if unknown:
            raise TfcompError(f"cannot freeze {', '.join(unknown)}; parts of {self.architecture}: {', '.join(self.PARTS)}")
        self.frozen_parts = tuple(parts)

    def rate_distortion(self, x: tf.Tensor, x_hat: tf.Tensor, bits: tf.Tensor):
        """(loss, bpp, mse) for a batch; MSE on the 0..255 scale, distortion chosen at construction."""
        num_pixels = tf.cast(tf.reduce_prod(tf.shape(x)[:-1]), bits.dtype)
        bpp = tf.reduce_sum(bits) / num_pixels
        mse = tf.reduce_mean(tf.math.squared_difference(x, x_hat))
        if self.distortion == "mse":
            distortion = mse
        else:
            distortion = 1.0 - tf.reduce_mean(ms_ssim_tf(x, tf.clip_by_value(x_hat, 0.0, 255.0)))
        return bpp + self.lmbda * distortion, bpp, mse

    @property
    def family(self) -> str:
        """Name of the ladder (RD curve) this model is a rung of."""
        return self.architecture

    @property
    def metrics(self) -> list:
        """Trackers Keras resets at each epoch."""
        return [self.loss_tracker, self.bpp_tracker, self.mse_tracker]

    def _track(self, loss, bpp, mse) -> dict:
        self.loss_tracker.update_state(loss)
        self.bpp_tracker.update_state(bpp)
        self.mse_tracker.update_state(mse)
        return {m.name: m.result() for m in self.metrics}

    def train_step(self, x):
        """One optimizer step on the rate-distortion loss (noise-relaxed quantization)."""
        with tf.GradientTape() as tape:
            loss, bpp, mse = self(x, training=True)
            # Gradients are summed over replicas, so each replica contributes its share of the mean.
            scaled = loss / tf.distribute.get_strategy().num_replicas_in_sync
        frozen = {v.ref() for part in self.frozen_parts for v in getattr(self, part).trainable_variables}
        variables = [v for v in self.trainable_variables if v.ref() not in frozen]
        gradients = tape.gradient(scaled, variables)
        self.optimizer.apply_gradients(zip(gradients, variables))
        return self._track(loss, bpp, mse)

    def test_step(self, x):
        """Rate-distortion metrics with hard rounding, as the codec will see them."""
        return self._track(*self(x, training=False))

    @tf.function(input_signature=[tf.TensorSpec(shape=(None, None, 3), dtype=tf.uint8)])
    def analyze(self, x):
        """Image (H, W, 3) uint8 -> latents (1, h, w, N)."""
        return self.analysis_transform(tf.cast(x[None], self.compute_dtype))

    @tf.function(input_signature=[tf.TensorSpec(shape=(None, None, None, None), dtype=tf.float32),
                                  tf.TensorSpec(shape=(2,), dtype=tf.int32)])
    def synthesize(self, y_hat, x_shape):
        """Quantized latents -> image (H, W, 3) uint8, cropped to the original size."""
        x_hat = self.synthesis_transform(y_hat)[0, :x_shape[0], :x_shape[1], :]
        return tf.saturate_cast(tf.round(x_hat), tf.uint8)

    @tf.function(input_signature=[tf.TensorSpec(shape=(None, None, 3), dtype=tf.uint8)])
    def compress(self, x):
        """Image (H, W, 3) uint8 -> (strings, latent shapes)."""
        return self.entropy_encode(self.analyze(x))

    @tf.function(input_signature=[tf.TensorSpec(shape=(None,), dtype=tf.string),
                                  tf.TensorSpec(shape=(2,), dtype=tf.int32),
                                  tf.TensorSpec(shape=(None, 2), dtype=tf.int32)])
    def decompress(self, strings, x_shape, latent_shapes):
        """(strings, image shape, latent shapes) -> image (H, W, 3) uint8."""
        return self.synthesize(self.entropy_decode(strings, latent_shapes), x_shape)

    @tf.function(input_signature=[])
    def entropy_tables(self):
        """All range-coding tables, flattened to one int32 vector."""
        return tf.concat([tf.reshape(tf.cast(t, tf.int32), [-1]) for t in self.entropy_table_tensors()], 0)


def table_hash(tables: np.ndarray) -> str:
    """Hex sha256 of the int32 little-endian bytes of the entropy tables."""
    return hashlib.sha256(np.asarray(tables, dtype="<i4").tobytes()).hexdigest()
