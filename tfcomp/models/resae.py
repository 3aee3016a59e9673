"""Seed 000's residual convolutional autoencoder with a dense bottleneck, its denoiser post-filter, the
int8 decoder, the convergence rule and the Q score.

The system is a codec that *overfits a fixed image set*: the decoder is part of the compressed data, so
the seed's compression ratio is (decoder_bytes / n_images + latent_bytes_per_image) / (256 * 256 * 3).

Data flows top to bottom (seed 000's appendix A, a PyTorch model, rebuilt in Keras):

- Encoder: L residual blocks, block i = Conv 4x4 stride 2 (channels 32 * 2^i) -> ReLU, plus a skip path
  (1x1 stride-2 convolution) added after the ReLU; then Flatten -> Dense(latent_dim).
- Decoder: Dense(latent_dim -> h * w * c) -> ReLU -> reshape -> (L - 1) transposed residual blocks
  (ConvTranspose 4x4 stride 2 -> ReLU, plus a 1x1 stride-2 transposed skip) -> ConvTranspose 4x4
  stride 2 to 3 channels -> sigmoid. PyTorch's `padding=1` on a 4x4 stride-2 (transposed) convolution
  equals Keras' `padding="same"` on even sizes (one pixel each side), so every shape matches the seed's.
- Configurations (L, image-set size, latent_dim): small (2, 64, 16), base (2, 256, 32), large
  (2, 1024, 64), xlarge (2, 4096, 128). At 256x256 and L = 2 the bottleneck Dense layers are
  64 * 64 * 64 x latent_dim: 4.2M weights for small, 8.4M for base; they dominate both networks.
- Loss: MSE on [0, 1] pixels, Adam. The seed trains with mixed precision on a GPU; on CPU float32 is
  faster, so we train in float32 (same model, same loss).
- Convergence (`ConvergenceRule`): every 100 epochs, fit a line to the last 100 epoch losses and measure
  the mean SSIM of the image set; stop when |slope| < 1e-6, |SSIM change since the previous check| < 1e-3
  and epoch > 500. (The seed's text prints "1 x 10^6" and "1 x 10^3"; SYSTEMS.md reads them as 1e-6 and
  1e-3, the only readings under which the rule ever stops.) An `--epochs` cap may stop earlier; the
  training record says which one stopped it.

The denoiser (`build_denoiser`, after Wang et al. 2024 as the seed describes it; < 1M parameters): conv
3x3 3 -> 64, three dense blocks (each four conv 3x3 + ReLU layers of growth 32, every layer seeing the
block input and all earlier outputs, then a 1x1 convolution back to 64 channels with a residual add),
channel attention (global average pool -> 1x1 -> ReLU -> 1x1 -> sigmoid -> scale), conv 3x3 -> 3. We add a
global residual (the output is input + predicted correction, clipped to [0, 1]): the seed's figure shows
one, and it makes an untrained or briefly trained denoiser start as the identity, so a short CPU training
cannot lose much quality. It is fully convolutional; it trains on random crops of (reconstruction,
original) pairs and runs on whole 256x256 tiles (the attention's global pool then averages a larger area
than in training, which is the usual practice for such filters).

int8 (`convert_int8`): the decoder is converted by TFLite to full-integer int8 (static quantization:
weights per channel, activations with ranges calibrated on the image set's latents), as the seed's
"static, calibrated on latents" PyTorch quantization. The decoder's bytes in the ratio are then the
.tflite flatbuffer's size. Unlike PyTorch, TFLite quantizes transposed convolutions too, so our int8 size
reduction is closer to 4x than the seed's 3.33x-3.89x.

Q score (`q_score`): alpha * mean(min-max normalised PSNR) + (1 - alpha) * mean(SSIM), alpha = 0.5, the
normalisation over every PSNR being compared (pass the same `psnr_range` to compare systems).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os

import numpy as np
import tensorflow as tf

from tfcomp.errors import TfcompError

IMAGE_SIZE = 256
FIRST_CHANNELS = 32


@dataclasses.dataclass(frozen=True)
class Config:
    """One of the seed's model sizes."""

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
RAW_BYTES = IMAGE_SIZE * IMAGE_SIZE * 3  # 196,608: the seed's uncompressed size


def bottleneck_shape(config: Config) -> tuple[int, int, int]:
    """(h, w, channels) of the last encoder block's output, the decoder's reshape target."""
    if config.image_size % 2 ** config.num_layers:
        raise TfcompError(f"image size {config.image_size} is not divisible by 2^{config.num_layers}")
    side = config.image_size // 2 ** config.num_layers
    return side, side, FIRST_CHANNELS * 2 ** (config.num_layers - 1)


def _residual_block(x: tf.Tensor, channels: int, transpose: bool, name: str) -> tf.Tensor:
    """ReLU(conv 4x4 stride 2 (transposed or not)) + 1x1 stride-2 skip, as the seed's ResidualBlock."""
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


class ConvergenceRule(tf.keras.callbacks.Callback):
    """Seed 000's stopping rule: every `period` epochs, |slope of a line fitted to the last `period` losses|
    < slope_tol, |SSIM - SSIM at the previous check| < ssim_tol, and epoch > min_epochs.

    `ssim_fn()` measures the mean SSIM of the image set (called at checks only). The loss history and the
    previous SSIM are kept in `state` (a JSON-able dict) so a resumed run continues the rule where it was.
    """

    def __init__(self, ssim_fn, period: int = 100, slope_tol: float = 1e-6, ssim_tol: float = 1e-3,
                 min_epochs: int = 500, state: dict | None = None):
        super().__init__()
        self.ssim_fn, self.period, self.slope_tol, self.ssim_tol, self.min_epochs = (
            ssim_fn, period, slope_tol, ssim_tol, min_epochs)
        self.state = state if state is not None else {}
        self.state.setdefault("losses", [])
        self.state.setdefault("checks", [])
        self.state.setdefault("converged", False)

    @staticmethod
    def slope(losses: list[float]) -> float:
        """Least-squares slope of losses against epoch number."""
        return float(np.polyfit(np.arange(len(losses), dtype=np.float64), np.asarray(losses, np.float64), 1)[0])

    def check(self, epoch: int) -> bool:
        """Runs one check after `epoch` (1-based count of epochs done); True when the rule says stop."""
        window = self.state["losses"][-self.period:]
        slope = self.slope(window)
        ssim = float(self.ssim_fn())
        previous = self.state["checks"][-1]["ssim"] if self.state["checks"] else None
        converged = (abs(slope) < self.slope_tol and previous is not None and abs(ssim - previous) < self.ssim_tol
                     and epoch > self.min_epochs)
        self.state["checks"].append(dict(epoch=epoch, slope=slope, ssim=ssim, converged=converged))
        self.state["converged"] = converged
        return converged

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        """Records the epoch loss; at every period-th epoch applies the rule."""
        self.state["losses"].append(float((logs or {})["loss"]))
        done = epoch + 1
        if done % self.period == 0 and len(self.state["losses"]) >= 2 and self.check(done):
            self.model.stop_training = True


# ---------------------------------------------------------------------------------------------------------
# Denoiser


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


# ---------------------------------------------------------------------------------------------------------
# int8 decoder


def convert_int8(decoder: tf.keras.Model, config: Config, calibration_latents: np.ndarray) -> bytes:
    """The decoder as a full-integer int8 .tflite flatbuffer (float32 in/out), calibrated on latents."""
    fixed = build_decoder(config, batch_size=1)  # a fixed batch of 1 avoids dynamic-shape ops in TFLite
    fixed.set_weights(decoder.get_weights())
    converter = tf.lite.TFLiteConverter.from_keras_model(fixed)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    samples = [np.asarray(z, np.float32)[None] for z in calibration_latents]
    converter.representative_dataset = lambda: ([s] for s in samples)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    return converter.convert()


class Int8Decoder:
    """Runs an int8 .tflite decoder on latents one tile at a time (the flatbuffer has batch 1)."""

    def __init__(self, flatbuffer: bytes, threads: int = 2):
        self.interpreter = tf.lite.Interpreter(model_content=flatbuffer, num_threads=threads)
        self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]["index"]
        self.output = self.interpreter.get_output_details()[0]["index"]

    def __call__(self, latents: np.ndarray) -> np.ndarray:
        """Latents (T, latent_dim) -> float images (T, S, S, 3) in [0, 1]."""
        out = []
        for z in np.asarray(latents, np.float32):
            self.interpreter.set_tensor(self.input, z[None])
            self.interpreter.invoke()
            out.append(self.interpreter.get_tensor(self.output)[0].copy())
        return np.stack(out)


# ---------------------------------------------------------------------------------------------------------
# Q score


def q_score(psnrs, ssims, alpha: float = 0.5, psnr_range: tuple[float, float] | None = None) -> float:
    """Seed 000's Q = alpha * mean(min-max normalised PSNR) + (1 - alpha) * mean(SSIM).

    psnr_range is (min, max) of PSNR_all, every PSNR in the comparison; default: these PSNRs' own range."""
    psnrs, ssims = np.asarray(psnrs, np.float64), np.asarray(ssims, np.float64)
    low, high = psnr_range if psnr_range is not None else (psnrs.min(), psnrs.max())
    normalised = (psnrs - low) / (high - low) if high > low else np.zeros_like(psnrs)
    return float(alpha * normalised.mean() + (1 - alpha) * ssims.mean())


def compression_ratio(decoder_bytes: int, n_images: int, latent_bytes_per_image: float,
                      raw_bytes: int = RAW_BYTES) -> float:
    """Seed 000's ratio: (decoder bytes / n_images + latent bytes per image) / raw bytes (smaller is better)."""
    return (decoder_bytes / n_images + latent_bytes_per_image) / raw_bytes


# ---------------------------------------------------------------------------------------------------------
# Model files: one .npz per configuration (encoder, float decoder, int8 decoder, metadata), and one for the
# denoiser, which is shared by all configurations as in the seed.


def _digest(arrays: list[np.ndarray], extra: bytes = b"") -> bytes:
    digest = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(array.astype(array.dtype.newbyteorder("<")).tobytes())
    digest.update(extra)
    return digest.digest()


def save_autoencoder(path: str, config: Config, encoder: tf.keras.Model, decoder: tf.keras.Model,
                     int8: bytes | None, metadata: dict) -> dict:
    """Writes the encoder, float decoder, int8 flatbuffer and metadata to one .npz atomically."""
    enc, dec = encoder.get_weights(), decoder.get_weights()
    metadata = dict(metadata, architecture="resae", config=dataclasses.asdict(config),
                    parameters=dict(encoder=int(sum(w.size for w in enc)), decoder=int(sum(w.size for w in dec))),
                    decoder_bytes=dict(float32=int(sum(4 * w.size for w in dec)), int8=len(int8) if int8 else None))
    arrays = {f"enc{i:02d}": w for i, w in enumerate(enc)}
    arrays.update({f"dec{i:02d}": w for i, w in enumerate(dec)})
    if int8:
        arrays["int8"] = np.frombuffer(int8, np.uint8)
    tmp = path + ".tmp.npz"
    np.savez(tmp, metadata=json.dumps(metadata), **arrays)  # uncompressed: float weights barely compress
    os.replace(tmp, path)
    return metadata


@dataclasses.dataclass
class AutoencoderFile:
    """A loaded configuration file."""

    config: Config
    encoder: tf.keras.Model
    decoder: tf.keras.Model
    int8: bytes | None
    metadata: dict
    digest_float: bytes
    digest_int8: bytes | None


def load_autoencoder(path: str) -> AutoencoderFile:
    """Reads a file written by save_autoencoder; TfcompError if it is missing or does not fit."""
    try:
        with np.load(path) as npz:
            metadata = json.loads(str(npz["metadata"]))
            enc = [npz[k] for k in sorted(k for k in npz.files if k.startswith("enc"))]
            dec = [npz[k] for k in sorted(k for k in npz.files if k.startswith("dec"))]
            int8 = npz["int8"].tobytes() if "int8" in npz.files else None
    except FileNotFoundError:
        raise TfcompError(f"no resae model at {path}; train one with `tfcomp train -a resae` "
                          "(or point $TFCOMP_RESAE at a folder of them)") from None
    except (OSError, KeyError, ValueError) as error:
        raise TfcompError(f"cannot read the resae model {path} ({type(error).__name__})") from None
    config = Config(**metadata["config"])
    encoder, decoder = build_encoder(config), build_decoder(config)
    try:
        encoder.set_weights(enc)
        decoder.set_weights(dec)
    except ValueError:
        raise TfcompError(f"{path}: weights do not fit this version's resae {config}") from None
    described = json.dumps(dataclasses.asdict(config), sort_keys=True).encode()
    digest_float = _digest(dec, b"float32 " + described)
    digest_int8 = hashlib.sha256(int8 + b"int8 " + described).digest() if int8 else None
    return AutoencoderFile(config, encoder, decoder, int8, metadata, digest_float, digest_int8)


def save_denoiser(path: str, denoiser: tf.keras.Model, metadata: dict) -> dict:
    """Writes the denoiser's weights and metadata to one .npz atomically."""
    weights = denoiser.get_weights()
    metadata = dict(metadata, parameters=int(sum(w.size for w in weights)),
                    bytes_float32=int(sum(4 * w.size for w in weights)))
    tmp = path + ".tmp.npz"
    np.savez(tmp, metadata=json.dumps(metadata), **{f"w{i:02d}": w for i, w in enumerate(weights)})
    os.replace(tmp, path)
    return metadata


def load_denoiser(path: str) -> tuple[tf.keras.Model, dict, bytes]:
    """(denoiser, metadata, 32-byte digest) of a file written by save_denoiser."""
    try:
        with np.load(path) as npz:
            metadata = json.loads(str(npz["metadata"]))
            weights = [npz[k] for k in sorted(k for k in npz.files if k.startswith("w"))]
    except FileNotFoundError:
        raise TfcompError(f"no resae denoiser at {path}; train one with `tfcomp train -a resae-denoiser` "
                          "(or use a -raw rate point)") from None
    except (OSError, KeyError, ValueError) as error:
        raise TfcompError(f"cannot read the resae denoiser {path} ({type(error).__name__})") from None
    denoiser = build_denoiser()
    try:
        denoiser.set_weights(weights)
    except ValueError:
        raise TfcompError(f"{path}: weights do not fit this version's denoiser") from None
    return denoiser, metadata, _digest(weights, b"denoiser")
