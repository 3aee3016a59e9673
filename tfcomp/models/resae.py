"""The residual convolutional autoencoder with a dense bottleneck (the "resae" system of the source essay
"Adapting Autoencoder neural networks for image compression"), as a Keras network.

The system is a codec that *overfits a fixed image set*: the decoder is part of the compressed data, so
the essay's compression ratio is (decoder_bytes / n_images + latent_bytes_per_image) / (256 * 256 * 3).

Data flows top to bottom (the essay's appendix A, a PyTorch model, rebuilt in Keras):

- Encoder: L residual blocks, block i = Conv 4x4 stride 2 (channels 32 * 2^i) -> ReLU, plus a skip path
  (1x1 stride-2 convolution) added after the ReLU; then Flatten -> Dense(latent_dim).
- Decoder: Dense(latent_dim -> h * w * c) -> ReLU -> reshape -> (L - 1) transposed residual blocks
  (ConvTranspose 4x4 stride 2 -> ReLU, plus a 1x1 stride-2 transposed skip) -> ConvTranspose 4x4
  stride 2 to 3 channels -> sigmoid. PyTorch's `padding=1` on a 4x4 stride-2 (transposed) convolution
  equals Keras' `padding="same"` on even sizes (one pixel each side), so every shape matches the essay's.
- Configurations (L, image-set size, latent_dim): small (2, 64, 16), base (2, 256, 32), large
  (2, 1024, 64), xlarge (2, 4096, 128). At 256x256 and L = 2 the bottleneck Dense layers are
  64 * 64 * 64 x latent_dim: 4.2M weights for small, 8.4M for base; they dominate both networks.
- Loss: MSE on [0, 1] pixels, Adam. The essay trains with mixed precision on a GPU; on CPU float32 is
  faster, so we train in float32 (same model, same loss).
"""
from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf

from tfcomp.errors import TfcompError

IMAGE_SIZE = 256
FIRST_CHANNELS = 32


@dataclasses.dataclass(frozen=True)
class Config:
    """One of the essay's model sizes."""

    num_layers: int
    image_set_size: int
    latent_dim: int
    image_size: int = IMAGE_SIZE


CONFIGS: dict[str, Config] = {
    "small": Config(2, 64, 16),
    "base": Config(2, 256, 32),
    "large": Config(2, 1024, 64),
    "xlarge": Config(2, 4096, 128),
}


def bottleneck_shape(config: Config) -> tuple[int, int, int]:
    """(h, w, channels) of the last encoder block's output, the decoder's reshape target."""
    if config.image_size % 2 ** config.num_layers:
        raise TfcompError(f"image size {config.image_size} is not divisible by 2^{config.num_layers}")
    side = config.image_size // 2 ** config.num_layers
    return side, side, FIRST_CHANNELS * 2 ** (config.num_layers - 1)


def _residual_block(x: tf.Tensor, channels: int, transpose: bool, name: str) -> tf.Tensor:
    """ReLU(conv 4x4 stride 2 (transposed or not)) + 1x1 stride-2 skip, as the essay's ResidualBlock."""
    layers = tf.keras.layers
    conv = layers.Conv2DTranspose if transpose else layers.Conv2D
    main = layers.ReLU(name=f"{name}_relu")(conv(channels, 4, strides=2, padding="same", name=f"{name}_conv")(x))
    if transpose:
        skip = conv(channels, 1, strides=2, padding="same", name=f"{name}_skip")(x)
    else:
        # A 1x1 stride-2 convolution reads the pixels at even rows and columns. Written as that subsampling
        # and a 1x1 convolution (the same function and weights), because TF 2.14's oneDNN gradient of a
        # strided 1x1 convolution on 3 channels corrupts the heap (a crash in training).
        even = layers.Lambda(lambda t: t[:, ::2, ::2, :], name=f"{name}_subsample")(x)
        skip = conv(channels, 1, name=f"{name}_skip")(even)
    return layers.Add(name=f"{name}_add")([main, skip])


def build_encoder(config: Config) -> tf.keras.Model:
    """Images (B, S, S, 3) in [0, 1] -> latents (B, latent_dim)."""
    images = tf.keras.Input((config.image_size, config.image_size, 3), name="image")
    x = images
    for i in range(config.num_layers):
        x = _residual_block(x, FIRST_CHANNELS * 2 ** i, transpose=False, name=f"enc_{i}")
    x = tf.keras.layers.Flatten(name="enc_flatten")(x)
    latents = tf.keras.layers.Dense(config.latent_dim, name="enc_dense")(x)
    return tf.keras.Model(images, latents, name="encoder")


def build_decoder(config: Config, batch_size: int | None = None) -> tf.keras.Model:
    """Latents (B, latent_dim) -> images (B, S, S, 3) in [0, 1]."""
    layers = tf.keras.layers
    shape = bottleneck_shape(config)
    latents = tf.keras.Input((config.latent_dim,), batch_size=batch_size, name="latent")
    x = layers.Dense(int(np.prod(shape)), name="dec_dense")(latents)
    x = layers.Reshape(shape, name="dec_reshape")(layers.ReLU(name="dec_dense_relu")(x))
    channels = shape[-1]
    for i in range(config.num_layers - 1):
        channels //= 2
        x = _residual_block(x, channels, transpose=True, name=f"dec_{i}")
    x = layers.Conv2DTranspose(3, 4, strides=2, padding="same", name="dec_out")(x)
    images = layers.Activation("sigmoid", name="dec_sigmoid")(x)
    return tf.keras.Model(latents, images, name="decoder")


def ssim_01(x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
    """Per-image SSIM of batches in [0, 1] (the 8-bit SSIM of tfcomp.evaluation.metrics, rescaled)."""
    return tf.image.ssim(x * 255.0, y * 255.0, 255.0)


class ResAE(tf.keras.Model):
    """The residual autoencoder; fit on batches of images in [0, 1], loss MSE."""

    architecture = "resae"

    def __init__(self, config: Config, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.encoder = build_encoder(config)
        self.decoder = build_decoder(config)
        self.loss_tracker = tf.keras.metrics.Mean(name="loss")
        self.psnr_tracker = tf.keras.metrics.Mean(name="psnr")

    @property
    def metrics(self) -> list:
        """Trackers Keras resets at each epoch."""
        return [self.loss_tracker, self.psnr_tracker]

    def call(self, x: tf.Tensor, training: bool = False) -> tf.Tensor:
        """Images -> reconstructions (float latents)."""
        return self.decoder(self.encoder(x, training=training), training=training)

    def train_step(self, x):
        """One Adam step on the MSE of a batch."""
        with tf.GradientTape() as tape:
            x_hat = self(x, training=True)
            loss = tf.reduce_mean(tf.math.squared_difference(x, x_hat))
        self.optimizer.apply_gradients(zip(tape.gradient(loss, self.trainable_variables), self.trainable_variables))
        self.loss_tracker.update_state(loss)
        self.psnr_tracker.update_state(tf.reduce_mean(tf.image.psnr(x, x_hat, 1.0)))
        return {m.name: m.result() for m in self.metrics}


def reconstruct(encoder: tf.keras.Model, decoder: tf.keras.Model, images: np.ndarray, batch: int = 16) -> np.ndarray:
    """uint8 images -> uint8 reconstructions through float latents, batch by batch."""
    out = []
    for i in range(0, len(images), batch):
        x = tf.constant(images[i:i + batch], tf.float32) / 255.0
        out.append(to_uint8(decoder(encoder(x, training=False), training=False)))
    return np.concatenate(out)


def to_uint8(x) -> np.ndarray:
    """Images in [0, 1] -> rounded, clamped uint8."""
    return tf.saturate_cast(tf.round(tf.convert_to_tensor(x) * 255.0), tf.uint8).numpy()


def mean_ssim(a: np.ndarray, b: np.ndarray, batch: int = 32) -> float:
    """Mean SSIM of two uint8 image stacks."""
    values = [tf.image.ssim(tf.constant(a[i:i + batch], tf.float32), tf.constant(b[i:i + batch], tf.float32), 255.0)
              for i in range(0, len(a), batch)]
    return float(tf.reduce_mean(tf.concat(values, 0)))
