"""SDAE: the stacked denoising convolutional autoencoder of the SDAE project, with two codings of its latents.

Data flows top to bottom: a 128x128 RGB tile in [0, 1] -> four encoder stages (3x3 convolution, 3x3
stride-2 convolution, BatchNorm, PReLU, dropout) -> an 8x8x32 latent (2048 values) -> four decoder stages
(3x3 convolution to 4f channels, x2 pixel shuffle, BatchNorm, PReLU, dropout) -> 3x3 transposed
convolution -> sigmoid. Training adds Gaussian noise (sigma 0.15) to the input and measures MSE against
the clean tile. The latents are then coded one of two ways:

- the project's: every value rounded to 2 decimals, written as text and Deflate-compressed (zlib);
- ours: uniform quantization with one of STEPS and range coding under a factorized density per step and
  latent channel (`LatentPriors`, tfc's NoisyDeepFactorized), fitted after training to the frozen
  encoder's latents with additive uniform noise. Freezing keeps the project's network as it is, so the two
  codings differ only in how the same latents are coded: at step 0.01 both code the same precision.

The whole model (transforms and priors) is stored as one .npz file (`save` / `load`); tfcomp.codecs.sdae
turns it into a codec over whole images.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import zlib

import numpy as np
import tensorflow as tf
import tensorflow_compression as tfc

from tfcomp.errors import TfcompError

TILE = 128
LATENT_SHAPE = (8, 8, 32)
LATENT_VALUES = int(np.prod(LATENT_SHAPE))  # 2048 per tile
NOISE_SIGMA = 0.15
DROPOUT = 0.2
# Encoder stages as (filters of the stride-1 convolution, filters of the stride-2 convolution).
ENCODER_STAGES = ((32, 32), (64, 64), (64, 64), (64, 32))
DECODER_STAGES = (32, 64, 64, 32)
# Quantization steps of our coding, coarsest first (rate point q1 = smallest files); the finest equals
# the project's 2-decimal rounding.
STEPS = (0.64, 0.32, 0.16, 0.08, 0.04, 0.02, 0.01)
# 16 bits, the range coder's most: the fine steps spread a channel over hundreds of bins.
RANGE_CODER_PRECISION = 16
DEFLATE_LEVEL = 9  # the project's code calls zlib; 9 is Deflate's best, the project's coding at its best
DEFLATE_FORMAT = "%.2f"


def _prelu(name: str) -> tf.keras.layers.PReLU:
    # One slope per channel: the SDAE project does not say how its PReLU slopes are shared; per-channel slopes
    # keep the network fully convolutional instead of tying each slope to one pixel of a 128x128 tile.
    return tf.keras.layers.PReLU(shared_axes=[1, 2], name=name)


def analysis_transform(dropout: float = DROPOUT) -> tf.keras.Sequential:
    """Tiles in [0, 1] -> latents at 1/16 resolution with 32 channels."""
    layers = []
    for i, (pre, filters) in enumerate(ENCODER_STAGES):
        layers += [
            # No activation between the two convolutions: the SDAE project has none.
            tf.keras.layers.Conv2D(pre, 3, padding="same", name=f"enc_{i}_conv"),
            tf.keras.layers.Conv2D(filters, 3, strides=2, padding="same", name=f"enc_{i}_down"),
            tf.keras.layers.BatchNormalization(name=f"enc_{i}_bn"),
            _prelu(f"enc_{i}_prelu"),
            tf.keras.layers.Dropout(dropout, name=f"enc_{i}_dropout"),
        ]
    return tf.keras.Sequential(layers, name="analysis")


def synthesis_transform(dropout: float = DROPOUT) -> tf.keras.Sequential:
    """Latents -> tiles in [0, 1], upsampled x2 per stage by sub-pixel convolutions."""
    layers = []
    for i, filters in enumerate(DECODER_STAGES):
        layers += [
            tf.keras.layers.Conv2D(4 * filters, 3, padding="same", name=f"dec_{i}_conv"),
            tf.keras.layers.Lambda(lambda x: tf.nn.depth_to_space(x, 2), name=f"dec_{i}_shuffle"),
            tf.keras.layers.BatchNormalization(name=f"dec_{i}_bn"),
            _prelu(f"dec_{i}_prelu"),
            tf.keras.layers.Dropout(dropout, name=f"dec_{i}_dropout"),
        ]
    layers += [tf.keras.layers.Conv2DTranspose(3, 3, padding="same", name="dec_out"),
               tf.keras.layers.Activation("sigmoid", name="dec_sigmoid")]
    return tf.keras.Sequential(layers, name="synthesis")


def add_noise(x: tf.Tensor, sigma: float) -> tf.Tensor:
    """Gaussian noise of standard deviation sigma on images in [0, 1], clipped back to [0, 1]."""
    return tf.clip_by_value(x + tf.random.normal(tf.shape(x), stddev=sigma), 0.0, 1.0)


def psnr_01(x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
    """Mean PSNR (dB) of batches of images in [0, 1]."""
    return tf.reduce_mean(tf.image.psnr(x, y, 1.0))


class LatentPriors(tf.keras.Model):
    """Our coding's densities: one factorized prior per quantization step and latent channel.

    Step k's density models latents / STEPS[k], so every step uses the same integer quantizer with its own
    density. All steps share one tfc.NoisyDeepFactorized with batch shape (steps, 32): its batch elements
    are independent densities, and one prior builds every range-coding table in a single graph trace.
    Fitting minimizes the bits of all steps at once, with additive uniform noise in place of rounding.
    """

    def __init__(self, steps: tuple[float, ...] = STEPS, **kwargs):
        super().__init__(**kwargs)
        self.steps = tuple(float(s) for s in steps)
        self.prior = tfc.NoisyDeepFactorized(batch_shape=(len(self.steps), LATENT_SHAPE[-1]))
        self.bits_trackers = [tf.keras.metrics.Mean(name=f"bits_q{i + 1}") for i in range(len(self.steps))]
        self.loss_tracker = tf.keras.metrics.Mean(name="loss")
        self.tables: dict[str, np.ndarray] | None = None
        self._coders: dict[int, tfc.ContinuousBatchedEntropyModel] = {}

    def fit_latents(self, latents: np.ndarray, train_steps: int, batch: int = 16, learning_rate: float = 1e-2,
                    verbose: int = 0) -> dict:
        """Fits every step's density to latents (N, 8, 8, 32) of the frozen encoder; returns a record."""
        # Each step's density starts about as wide as its quantized latents (tfc's advice for init_scale):
        # one scale for steps 64x apart would leave most of them far off for thousands of steps.
        spread = float(np.percentile(np.abs(latents), 99.9))
        init_scales = [max(1.0, spread / step) for step in self.steps]
        fresh = [tfc.NoisyDeepFactorized(batch_shape=(LATENT_SHAPE[-1],), init_scale=s) for s in init_scales]
        # tf.Module lists variables in a fixed order; each is (steps * channels, ...) here, (channels, ...) there.
        for i, variable in enumerate(self.prior.variables):
            variable.assign(tf.concat([f.variables[i] for f in fresh], 0))
        self.compile(optimizer=tf.keras.optimizers.Adam(learning_rate))
        data = tf.data.Dataset.from_tensor_slices(latents).shuffle(len(latents)).repeat().batch(batch)
        epochs = max(1, train_steps // 100)
        history = self.fit(data, epochs=epochs, steps_per_epoch=train_steps // epochs, verbose=verbose)
        return dict(latents=len(latents), train_steps=epochs * (train_steps // epochs), batch=batch,
                    learning_rate=learning_rate,
                    latent_abs_p99_9=round(spread, 4), init_scales=[round(s, 2) for s in init_scales],
                    final_bits_per_value_noisy={k: round(float(v[-1]), 4) for k, v in history.history.items()})

    @property
    def metrics(self) -> list:
        """Trackers Keras resets at each epoch: bits per latent value of each step, and their sum."""
        return [self.loss_tracker, *self.bits_trackers]

    def call(self, y: tf.Tensor) -> tf.Tensor:
        """Bits per latent value of latents (B, 8, 8, 32) under each step's density: [steps].

        As tfc.ContinuousBatchedEntropyModel estimates them in training: the log-density of the latents
        with additive uniform noise (one unit wide after division by the step)."""
        z = y[..., None, :] / tf.constant(self.steps)[:, None]  # (B, 8, 8, steps, 32)
        z += tf.random.uniform(tf.shape(z), -0.5, 0.5)
        bits = self.prior.log_prob(z) / -np.log(2.0)
        return tf.reduce_mean(bits, axis=(0, 1, 2, 4))

    def train_step(self, y):
        """One optimizer step on the summed bits of all steps."""
        with tf.GradientTape() as tape:
            bits = self(y)
            loss = tf.reduce_sum(bits)
        gradients = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_variables))
        self.loss_tracker.update_state(loss)
        for i, tracker in enumerate(self.bits_trackers):
            tracker.update_state(bits[i])
        return {m.name: m.result() for m in self.metrics}

    def build_tables(self) -> dict[str, np.ndarray]:
        """Computes the range-coding tables of every step from the fitted densities (once, after fitting)."""

        @tf.function  # one graph for all tables: eager tail estimation takes about a minute per step
        def build():
            model = tfc.ContinuousBatchedEntropyModel(self.prior, coding_rank=2, compression=True, stateless=True,
                                                      range_coder_precision=RANGE_CODER_PRECISION)
            return model.cdf, model.cdf_offset, model.quantization_offset

        cdf, cdf_offset, offset = build()
        self.set_tables(dict(cdf=cdf.numpy(), cdf_offset=cdf_offset.numpy(), quantization_offset=offset.numpy()))
        return self.tables

    def set_tables(self, tables: dict[str, np.ndarray]) -> None:
        """Installs tables made by build_tables (e.g. read from a model file)."""
        self.tables = tables
        self._coders = {}

    def coder(self, index: int) -> tfc.ContinuousBatchedEntropyModel:
        """The range coder of step `index`, from its slice of the tables."""
        if index not in self._coders:
            if self.tables is None:
                raise TfcompError("the SDAE priors have no range-coding tables (build_tables after fitting)")
            cdf = self.tables["cdf"]
            channels = LATENT_SHAPE[-1]
            # The flat CDF holds one table per (step, channel), each starting with the marker -precision.
            starts = np.flatnonzero(cdf == -RANGE_CODER_PRECISION)
            bounds = list(starts[::channels]) + [len(cdf)]
            self._coders[index] = tfc.ContinuousBatchedEntropyModel(
                prior_shape=(channels,), coding_rank=4, compression=True, stateless=True,
                range_coder_precision=RANGE_CODER_PRECISION,
                cdf=tf.constant(cdf[bounds[index]:bounds[index + 1]]),
                cdf_offset=tf.constant(self.tables["cdf_offset"][index * channels:(index + 1) * channels]),
                quantization_offset=tf.constant(self.tables["quantization_offset"][index]))
        return self._coders[index]

    def compress(self, latents: np.ndarray, index: int) -> bytes:
        """Latents (T, 8, 8, 32) -> one range-coded string, quantized with step `index`."""
        return self.coder(index).compress(tf.constant(latents / self.steps[index], tf.float32)).numpy()

    def decompress(self, string: bytes, index: int, tiles: int) -> np.ndarray:
        """The inverse of compress(): quantized latents (tiles, 8, 8, 32)."""
        values = self.coder(index).decompress(tf.constant(string), tf.constant([tiles, *LATENT_SHAPE[:2]]))
        return values.numpy() * np.float32(self.steps[index])


class SDAE(tf.keras.Model):
    """The SDAE project's denoising autoencoder: loss = MSE(clean tile, output for the noisy tile), in [0, 1]."""

    architecture = "sdae"

    def __init__(self, noise_sigma: float = NOISE_SIGMA, dropout: float = DROPOUT, **kwargs):
        super().__init__(**kwargs)
        self.noise_sigma = noise_sigma
        self.dropout = dropout
        self.analysis_transform = analysis_transform(dropout)
        self.synthesis_transform = synthesis_transform(dropout)
        self.priors = LatentPriors(STEPS, name="priors")
        self.analysis_transform.build((None, TILE, TILE, 3))
        self.synthesis_transform.build((None, *LATENT_SHAPE))
        self.mse_tracker = tf.keras.metrics.Mean(name="mse")
        self.psnr_tracker = tf.keras.metrics.Mean(name="psnr")

    def get_config(self) -> dict:
        """Constructor arguments, recorded in the model file's metadata."""
        return dict(noise_sigma=self.noise_sigma, dropout=self.dropout)

    @property
    def metrics(self) -> list:
        """Trackers Keras resets at each epoch."""
        return [self.mse_tracker, self.psnr_tracker]

    def stored_weights(self) -> list[tf.Variable]:
        """Every variable a model file holds, in a fixed order: transforms (BatchNorm statistics included),
        then the priors; metric trackers are left out."""
        return self.analysis_transform.weights + self.synthesis_transform.weights + list(self.priors.prior.variables)

    def autoencoder_variables(self) -> list[tf.Variable]:
        """The transforms' trainable variables (the priors are fitted apart, after training)."""
        return self.analysis_transform.trainable_variables + self.synthesis_transform.trainable_variables

    def call(self, x: tf.Tensor, training: bool = False) -> tf.Tensor:
        """Tiles in [0, 1] -> reconstructed tiles in [0, 1] (float latents, no coding)."""
        return self.synthesis_transform(self.analysis_transform(x, training=training), training=training)

    def _track(self, x: tf.Tensor, x_hat: tf.Tensor) -> dict:
        self.mse_tracker.update_state(tf.reduce_mean(tf.math.squared_difference(x, x_hat)))
        self.psnr_tracker.update_state(psnr_01(x, x_hat))
        return {m.name: m.result() for m in self.metrics}

    def train_step(self, x):
        """One optimizer step: noisy tile in, MSE against the clean tile."""
        noisy = add_noise(x, self.noise_sigma)
        variables = self.autoencoder_variables()
        with tf.GradientTape() as tape:
            x_hat = self(noisy, training=True)
            loss = tf.reduce_mean(tf.math.squared_difference(x, x_hat))
        self.optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return self._track(x, x_hat)

    def test_step(self, x):
        """MSE and PSNR of clean tiles, as the codec sees them (dropout off, BatchNorm statistics fixed)."""
        return self._track(x, self(x, training=False))

    @tf.function(input_signature=[tf.TensorSpec((None, TILE, TILE, 3), tf.uint8)])
    def analyze(self, tiles):
        """uint8 tiles (T, 128, 128, 3) -> float latents (T, 8, 8, 32)."""
        return self.analysis_transform(tf.cast(tiles, tf.float32) / 255.0, training=False)

    @tf.function(input_signature=[tf.TensorSpec((None, *LATENT_SHAPE), tf.float32)])
    def synthesize(self, latents):
        """Latents (T, 8, 8, 32) -> uint8 tiles (T, 128, 128, 3)."""
        return tf.saturate_cast(tf.round(self.synthesis_transform(latents, training=False) * 255.0), tf.uint8)


# The project's coding: 2-decimal text, Deflate. One value per line, tile by tile, each tile's 8x8x32 values
# in row-major order.
_NUMBER = re.compile(rb"-?[0-9]+\.[0-9]{2}")


def deflate_encode(latents: np.ndarray) -> bytes:
    """Float latents -> zlib-compressed text of the values rounded to 2 decimals."""
    rounded = np.round(latents.astype(np.float64).ravel(), 2) + 0.0  # + 0.0 turns -0.0 into 0.0
    text = "\n".join(DEFLATE_FORMAT % v for v in rounded)
    return zlib.compress(text.encode("ascii"), DEFLATE_LEVEL)


def deflate_decode(data: bytes, tiles: int) -> np.ndarray:
    """The inverse of deflate_encode(): latents (tiles, 8, 8, 32); TfcompError if they are not there."""
    count = tiles * LATENT_VALUES
    inflater = zlib.decompressobj()
    try:
        # A value of an 8-bit-image latent never needs 24 characters: anything longer is not ours.
        text = inflater.decompress(data, count * 24)
    except zlib.error:
        raise TfcompError("corrupt tfcomp file (sdae latents do not inflate)") from None
    if inflater.unconsumed_tail or inflater.unused_data or not inflater.eof:
        raise TfcompError("corrupt tfcomp file (sdae latent text is truncated or too long)")
    tokens = text.split(b"\n")
    if len(tokens) != count or not all(_NUMBER.fullmatch(t) for t in tokens):
        raise TfcompError(f"corrupt tfcomp file (expected {count} 2-decimal sdae latents)")
    return np.array(tokens, dtype=np.float64).astype(np.float32).reshape(tiles, *LATENT_SHAPE)


# The model file: SDAE.stored_weights() (transforms, BatchNorm statistics, priors) in order, as arrays
# "w000", "w001", ..., the range-coding tables built from the priors, and a JSON record with the weight
# names, the constructor arguments and how the model was trained.
TABLE_KEYS = ("cdf", "cdf_offset", "quantization_offset")


def save(model: SDAE, path: str, metadata: dict) -> dict:
    """Builds the range-coding tables from the current priors and writes the model and its metadata to
    one .npz file atomically; returns the metadata written."""
    weights = model.stored_weights()
    tables = model.priors.build_tables()
    metadata = dict(metadata, architecture=model.architecture, config=model.get_config(), steps=list(STEPS),
                    weight_names=[w.name for w in weights],
                    parameters={part: int(sum(np.prod(v.shape) for v in variables)) for part, variables in (
                        ("analysis", model.analysis_transform.weights),
                        ("synthesis", model.synthesis_transform.weights),
                        ("priors", model.priors.prior.variables))})
    arrays = {f"w{i:03d}": w.numpy() for i, w in enumerate(weights)}
    tmp = path + ".tmp.npz"
    np.savez_compressed(tmp, metadata=json.dumps(metadata), **arrays, **tables)
    os.replace(tmp, path)
    return metadata


def load(path: str) -> tuple[SDAE, dict, bytes]:
    """(model, metadata, 16-byte digest of every weight, table and coding parameter) from a model file."""
    try:
        with np.load(path) as npz:
            metadata = json.loads(str(npz["metadata"]))
            arrays = [npz[f"w{i:03d}"] for i in range(len(metadata["weight_names"]))]
            tables = {key: npz[key] for key in TABLE_KEYS}
            config = metadata["config"]
    except FileNotFoundError:
        raise TfcompError(f"no SDAE model at {path}; train one with `tfcomp train -a sdae` "
                          "(or point $TFCOMP_SDAE at one)") from None
    except (OSError, KeyError, ValueError) as error:
        raise TfcompError(f"cannot read the SDAE model {path} ({type(error).__name__})") from None
    model = SDAE(**config)
    weights = model.stored_weights()
    if metadata.get("steps") != list(STEPS) or [tuple(w.shape) for w in weights] != [a.shape for a in arrays]:
        raise TfcompError(f"{path}: weights do not fit this version's SDAE")
    for variable, array in zip(weights, arrays):
        variable.assign(array)
    model.priors.set_tables(tables)
    digest = hashlib.sha256()
    for array in arrays + [tables[key] for key in TABLE_KEYS]:
        digest.update(np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tobytes())
    # The coding parameters are part of the format: files never decode with other tables or text rules.
    digest.update(f"{STEPS} {RANGE_CODER_PRECISION} {DEFLATE_FORMAT} {config}".encode())
    return model, metadata, digest.digest()[:16]
