"""The product codec: a mean-scale hyperprior with a channel-wise context model (Minnen & Singh 2020) and
variable rate in one set of weights through gain units (Cui et al. 2021).

Data flows top to bottom: analysis (bls2017's transforms) -> the quality's gain vector -> hyper-analysis
-> factorized hyper-latents z -> hyper-synthesis -> the latent's slices coded in order, each slice's mean
and scale index predicted from the hyper-synthesis output and the slices before it -> the quality's
inverse gain -> synthesis.

Quality is continuous: level l in [0, levels - 1] (files say quality l + 1) interpolates the gains and
the trained lambdas between neighbouring levels in the log domain, and training samples levels uniformly
over the whole range, so every quality between the levels is trained too.

The hyper-synthesis and slice networks pick every table and mean, so they run in fixed point when coding
(tfcomp.layers.exact): the same integers on every machine. A file has two parts: z (stride 64), then all
slices of y in one range-coded string, slice after slice (stride 16).
"""
from __future__ import annotations

import math

import tensorflow as tf
import tensorflow_compression as tfc

from tfcomp.layers.exact import ExactConv2D, ExactNetwork, fixed_point_index, fixed_point_value, to_fixed_point
from tfcomp.models import bls2017
from tfcomp.models.common import CodecModel

# Ten levels a factor 1.85 apart: the published mean-scale models' 0.0018 to 0.13 (CompressAI's
# mbt2018-mean qualities) and two below them, where this model's curve reaches 0.1 bpp on Kodak.
DEFAULT_LAMBDAS = tuple(round(0.0018 * 1.85 ** i, 5) for i in range(-2, 8))
# Scale table of the Gaussian conditional: 64 scales spaced logarithmically from 0.11 to 256.
SCALE_MIN, SCALE_MAX, NUM_SCALES = 0.11, 256.0, 64
# Before training, every slice network predicts mean 0 and this scale index (scale 2.3): a random start
# predicted scales near 0.11 for latents of size 10 and cost over 100 bits per pixel, whose gradient would wreck
# warm-started transforms.
INITIAL_SCALE_INDEX = 25.0
# Refinement at encode time: Adam's step on the latents (in quantization bins) and the Gumbel annealing's
# temperature, REFINE_TEMPERATURE * exp(-REFINE_DECAY * progress), not below REFINE_MIN_TEMPERATURE.
REFINE_LEARNING_RATE = 0.003
REFINE_TEMPERATURE, REFINE_DECAY, REFINE_MIN_TEMPERATURE = 0.5, 3.0, 0.02


def scale_fn(index: tf.Tensor) -> tf.Tensor:
    """Scale of the Gaussian conditional for a (fractional) index into the log-spaced table."""
    factor = (math.log(SCALE_MAX) - math.log(SCALE_MIN)) / (NUM_SCALES - 1.0)
    return tf.math.exp(math.log(SCALE_MIN) + factor * index)


def hyper_analysis_transform(filters: int) -> tf.keras.Sequential:
    """Latents y -> hyper-latents z at 1/4 of their resolution (encoder only, so ordinary floats)."""
    conv = dict(corr=True, padding="same_zeros")
    return tf.keras.Sequential([
        tfc.SignalConv2D(filters, (3, 3), name="layer_0", strides_down=1, activation=tf.nn.relu, **conv),
        tfc.SignalConv2D(filters, (5, 5), name="layer_1", strides_down=2, activation=tf.nn.relu, **conv),
        tfc.SignalConv2D(filters, (5, 5), name="layer_2", strides_down=2, use_bias=False, **conv),
    ], name="hyper_analysis")


def hyper_synthesis_transform(filters: int) -> ExactNetwork:
    """z -> features at the latents' resolution that every slice's parameters are predicted from."""
    return ExactNetwork([
        ExactConv2D(filters, 3, upsample=2, name="layer_0"),
        ExactConv2D(filters, 3, upsample=2, name="layer_1"),
        ExactConv2D(filters, 3, name="layer_2"),
    ], name="hyper_synthesis")


def slice_transform(filters: int, slice_channels: int, index: int) -> ExactNetwork:
    """(features, earlier slices) -> the slice's means and scale indexes, concatenated."""
    return ExactNetwork([
        ExactConv2D(filters, 3, name="layer_0"),
        ExactConv2D(filters // 2, 3, name="layer_1"),
        ExactConv2D(2 * slice_channels, 3, relu=False, name="layer_2",
                    kernel_initializer=tf.keras.initializers.VarianceScaling(0.01),
                    bias_initializer=tf.keras.initializers.Constant(
                        [0.0] * slice_channels + [INITIAL_SCALE_INDEX] * slice_channels)),
    ], name=f"slice_{index}")


class SliceTransforms(tf.keras.layers.Layer):
    """One parameter network per slice; slice i sees the features and slices 0..i-1."""

    def __init__(self, num_slices: int, filters: int, slice_channels: int, **kwargs):
        super().__init__(**kwargs)
        self.networks = [slice_transform(filters, slice_channels, i) for i in range(num_slices)]

    def params(self, index: int, features: tf.Tensor, earlier: list[tf.Tensor]) -> tuple[tf.Tensor, tf.Tensor]:
        """Float path: (means, fractional scale indexes) of slice `index`."""
        params = self.networks[index](tf.concat([features, *earlier], -1))
        mean, scale_index = tf.split(params, 2, -1)
        return mean, scale_index

    def exact(self, index: int, features: tf.Tensor, earlier: list[tf.Tensor]) -> tuple[tf.Tensor, tf.Tensor]:
        """Fixed-point path: (means as float32 with 10 fractional bits, integer scale indexes) of a slice;
        features are fixed-point integers, earlier slices decoded values."""
        params = self.networks[index].exact(tf.concat([features, *map(to_fixed_point, earlier)], -1))
        mean, scale_index = tf.split(params, 2, -1)
        return fixed_point_value(mean), fixed_point_index(scale_index, NUM_SCALES)


class GainUnits(tf.keras.layers.Layer):
    """Per-level gain vectors on the latents and their learned inverses, interpolated in the log domain
    between neighbouring levels (Cui et al. 2021, "Asymmetric gained deep image compression")."""

    def __init__(self, levels: int, channels: int, initial_log_gains: list[float], **kwargs):
        super().__init__(**kwargs)
        self.levels, self.channels = levels, channels
        self.initial_log_gains = list(initial_log_gains)

    def build(self, input_shape) -> None:
        """log gain and log inverse gain, (levels, channels) each."""
        start = tf.constant(self.initial_log_gains, tf.float32)[:, None] * tf.ones((1, self.channels))
        self.log_gain = self.add_weight("log_gain", (self.levels, self.channels),
                                        initializer=tf.constant_initializer(start.numpy()))
        self.log_inverse_gain = self.add_weight("log_inverse_gain", (self.levels, self.channels),
                                                initializer=tf.constant_initializer(-start.numpy()))
        super().build(input_shape)

    def call(self, level: tf.Tensor, inverse: bool = False) -> tf.Tensor:
        """Gains (or inverse gains) for levels of shape (batch,): (batch, 1, 1, channels)."""
        table = self.log_inverse_gain if inverse else self.log_gain
        return tf.exp(interpolate(table, level))[:, None, None, :]


def interpolate(table: tf.Tensor, level: tf.Tensor) -> tf.Tensor:
    """Rows of a (levels, ...) table at fractional levels, linearly between neighbouring rows."""
    level = tf.clip_by_value(tf.cast(level, tf.float32), 0.0, tf.cast(tf.shape(table)[0] - 1, tf.float32))
    lower = tf.minimum(tf.cast(tf.floor(level), tf.int32), tf.shape(table)[0] - 2)
    weight = tf.reshape(level - tf.cast(lower, tf.float32), [-1] + [1] * (table.shape.rank - 1))
    return (1.0 - weight) * tf.gather(table, lower) + weight * tf.gather(table, lower + 1)


_IMAGE = tf.TensorSpec(shape=(None, None, 3), dtype=tf.uint8)
_LATENTS = tf.TensorSpec(shape=(None, None, None, None), dtype=tf.float32)
_STRINGS = tf.TensorSpec(shape=(None,), dtype=tf.string)
_IMAGE_SHAPE = tf.TensorSpec(shape=(2,), dtype=tf.int32)
_LATENT_SHAPES = tf.TensorSpec(shape=(None, 2), dtype=tf.int32)
_QUALITY = tf.TensorSpec(shape=(), dtype=tf.float32)
_STEPS = tf.TensorSpec(shape=(), dtype=tf.int32)


def soft_round_sample(offset: tf.Tensor, temperature: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Stochastic Gumbel annealing (Yang et al. 2020): each value drawn towards its floor or ceiling with
    odds that sharpen as the temperature falls; differentiable, and rounding in the limit. Seeded, so a
    refinement gives the same file every time on one machine."""
    floor = tf.floor(offset)
    below = tf.clip_by_value(offset - floor, 0.0, 1.0 - 1e-6)
    logits = tf.stack([-tf.math.atanh(below), -tf.math.atanh(1.0 - 1e-6 - below)], -1) / temperature
    noise = tf.random.stateless_uniform(tf.shape(logits), seed, 1e-9, 1.0)
    weights = tf.nn.softmax((logits - tf.math.log(-tf.math.log(noise))) / temperature, -1)
    return floor + weights[..., 1]


def adam_step(t: tf.Tensor, variables: list, gradients: list, first: list, second: list, rate: float,
              beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-8) -> tuple[list, list, list]:
    """One Adam update of tensors (not tf.Variables, so it runs inside a tf.while_loop): (variables, first
    moments, second moments) after step t (counting from 0)."""
    count = tf.cast(t + 1, tf.float32)
    first = [beta_1 * m + (1.0 - beta_1) * g for m, g in zip(first, gradients)]
    second = [beta_2 * v + (1.0 - beta_2) * tf.square(g) for v, g in zip(second, gradients)]
    step = rate * tf.sqrt(1.0 - beta_2 ** count) / (1.0 - beta_1 ** count)
    variables = [w - step * m / (tf.sqrt(v) + epsilon) for w, m, v in zip(variables, first, second)]
    return variables, first, second


class MS2020VR(CodecModel):
    """Variable-rate channel-wise mean-scale hyperprior: loss = mean over the batch of
    bpp + lambda(level) * MSE, each crop at its own randomly drawn level."""

    architecture = "ms2020vr"
    latent_strides = (16, 64)
    PARTS = ("analysis_transform", "synthesis_transform", "gain_units", "hyper_analysis_transform",
             "hyper_synthesis_transform", "slice_transforms", "hyperprior")
    # What --fit-hyperprior trains on cached latents of frozen transforms (rate only).
    ENTROPY_PARTS = ("hyper_analysis_transform", "hyper_synthesis_transform", "slice_transforms", "hyperprior")

    def __init__(self, lambdas: tuple[float, ...] = DEFAULT_LAMBDAS, num_filters: int = 192, num_slices: int = 4,
                 num_hyper_filters: int = 128, slice_filters: int = 128,
                 donor_lambda: float = 0.035, distortion: str = "mse", **kwargs):
        super().__init__(lmbda=max(lambdas), distortion=distortion, **kwargs)
        if distortion != "mse" or num_filters % num_slices or len(lambdas) < 2:
            raise ValueError("ms2020vr needs distortion mse, slices that divide the filters and two or more lambdas")
        self.lambdas = [float(v) for v in lambdas]
        self.num_filters, self.num_slices = num_filters, num_slices
        self.num_hyper_filters, self.slice_filters = num_hyper_filters, slice_filters
        self.donor_lambda = donor_lambda
        self.analysis_transform = bls2017.analysis_transform(num_filters)
        self.synthesis_transform = bls2017.synthesis_transform(num_filters)
        # A step size that scales like 1/sqrt(lambda) keeps MSE ~ lambda^-1 at high rate: a donor trained at
        # donor_lambda starts close to every level.
        self.gain_units = GainUnits(len(lambdas), num_filters,
                                    [0.5 * math.log(v / donor_lambda) for v in self.lambdas], name="gain_units")
        self.hyper_analysis_transform = hyper_analysis_transform(num_hyper_filters)
        self.hyper_synthesis_transform = hyper_synthesis_transform(num_hyper_filters)
        self.slice_transforms = SliceTransforms(num_slices, slice_filters, num_filters // num_slices,
                                                name="slice_transforms")
        self.hyperprior = tfc.NoisyDeepFactorized(batch_shape=(num_hyper_filters,))
        self.log_lambdas = tf.constant([math.log(v) for v in self.lambdas])
        self.build((None, None, None, 3))
        self.entropy_model = self.side_entropy_model = None

    def get_config(self) -> dict:
        """Constructor arguments, recorded in each shipped model's metadata."""
        return dict(lambdas=self.lambdas, num_filters=self.num_filters, num_slices=self.num_slices,
                    num_hyper_filters=self.num_hyper_filters,
                    slice_filters=self.slice_filters, donor_lambda=self.donor_lambda, distortion=self.distortion)

    @property
    def default_quality(self) -> float:
        """The quality `tfcomp compress` uses when none is given: the middle level, rounded down (quality 5
        of 10: 0.48 bpp and 30.6 dB on Kodak with version 4 of ms2020vr-mse)."""
        return float((self.levels + 1) // 2)

    @property
    def levels(self) -> int:
        """Number of trained levels; qualities run from 1 to this."""
        return len(self.lambdas)

    def _entropy_models(self, compression: bool):
        conditional = tfc.LocationScaleIndexedEntropyModel(
            tfc.NoisyNormal, NUM_SCALES, scale_fn, coding_rank=3, compression=compression)
        side = tfc.ContinuousBatchedEntropyModel(self.hyperprior, coding_rank=3, compression=compression,
                                                 offset_heuristic=False)
        return conditional, side

    # Training: float networks, noisy rates, rounded latents for the synthesis (straight-through).

    def latent_bits(self, y: tf.Tensor, training: bool) -> tuple[tf.Tensor, tf.Tensor]:
        """(y_hat, bits per image of all slices and z): each slice coded around its predicted mean."""
        conditional, side = self._entropy_models(compression=False)
        z = self.hyper_analysis_transform(y)
        _, bits = side(z, training=training)

        def code(index, y_slice, mean, scale_index):
            _, slice_bits = conditional(y_slice, scale_index, loc=mean, training=training)
            return conditional.quantize(y_slice, loc=mean), slice_bits

        y_hat, slice_bits = self._code_slices(y, side.quantize(z), code)
        return y_hat, bits + slice_bits

    def _code_slices(self, y: tf.Tensor, z_hat: tf.Tensor, code) -> tuple[tf.Tensor, tf.Tensor]:
        """Float path over the slices in coding order: code(index, slice, mean, scale index) -> (slice's
        quantized stand-in, its bits); returns the stand-ins concatenated and the bits summed."""
        features = self.hyper_synthesis_transform(z_hat)[:, :tf.shape(y)[1], :tf.shape(y)[2], :]
        y_hat_slices, bits = [], 0.0
        for i, y_slice in enumerate(tf.split(y, self.num_slices, -1)):
            mean, scale_index = self.slice_transforms.params(i, features, y_hat_slices)
            y_hat_slice, slice_bits = code(i, y_slice, mean, scale_index)
            bits += slice_bits
            y_hat_slices.append(y_hat_slice)
        return tf.concat(y_hat_slices, -1), bits

    def call(self, x: tf.Tensor, training: bool) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """Returns (loss, bpp, mse): training draws a level per crop, evaluation spreads the batch evenly
        over the levels."""
        x = tf.cast(x, self.compute_dtype)
        batch = tf.shape(x)[0]
        if training:
            level = tf.random.uniform((batch,), 0.0, self.levels - 1.0)
        else:
            level = tf.linspace(0.0, self.levels - 1.0, batch)
        y = self.analysis_transform(x) * self.gain_units(level)
        y_hat, bits = self.latent_bits(y, training)
        x_hat = self.synthesis_transform(y_hat * self.gain_units(level, inverse=True))
        pixels = tf.cast(tf.reduce_prod(tf.shape(x)[1:-1]), bits.dtype)
        bpp = bits / pixels
        mse = tf.reduce_mean(tf.math.squared_difference(x, x_hat), axis=(1, 2, 3))
        lmbda = tf.exp(interpolate(self.log_lambdas, level))
        return tf.reduce_mean(bpp + lmbda * mse), tf.reduce_mean(bpp), tf.reduce_mean(mse)

    # Coding: fixed-point parameter networks, so every machine picks the same tables and means.

    def enable_coding(self) -> None:
        """Fixes the range-coding tables and checks the fixed-point networks' bounds; call before saving."""
        self.entropy_model, self.side_entropy_model = self._entropy_models(compression=True)
        self.hyper_synthesis_transform.check_bounds()
        for network in self.slice_transforms.networks:
            network.check_bounds()

    def entropy_table_tensors(self) -> list[tf.Tensor]:
        """What both sides must share, hashed into every file's header: the tables, and the parameter
        networks' weights (bit patterns), which pick a table and a mean for every latent."""
        networks = [self.hyper_synthesis_transform, *self.slice_transforms.networks]
        weights = [tf.bitcast(w, tf.int32) for network in networks for w in network.weights]
        return [self.entropy_model.cdf, self.entropy_model.cdf_offset,
                self.side_entropy_model.cdf, self.side_entropy_model.cdf_offset, *weights]

    def latent_channels(self) -> int:
        """Channels of the latent tensor handed between analysis and synthesis."""
        return self.num_filters

    def _features(self, z_hat: tf.Tensor, y_shape: tf.Tensor) -> tf.Tensor:
        """Fixed-point hyper-synthesis output, cropped to the latents' size (z covers y rounded up to 4)."""
        return self.hyper_synthesis_transform.exact(to_fixed_point(z_hat))[:, :y_shape[0], :y_shape[1], :]

    def _stack(self, slices: list[tf.Tensor]) -> tf.Tensor:
        """Slices (1, h, w, c) stacked along the height, so one string holds them slice after slice."""
        return tf.concat(slices, 1)

    @tf.function(input_signature=[_IMAGE, _QUALITY])
    def analyze(self, x, quality):
        """Image (H, W, 3) uint8 at a quality (1..levels) -> gained latents (1, h, w, N)."""
        y = self.analysis_transform(tf.cast(x[None], self.compute_dtype))
        return y * self.gain_units(tf.reshape(quality - 1.0, [1]))

    @tf.function(input_signature=[_LATENTS, _QUALITY])
    def entropy_encode(self, y, quality):
        """Latents -> (strings [all slices, z], shapes [2, 2]); the quality is already in the gains."""
        del quality
        return self._encode(y, self.hyper_analysis_transform(y))

    def _encode(self, y: tf.Tensor, z: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """(latents, hyper-latents) -> (strings, shapes): z, then the slices around their fixed-point means."""
        side_string = self.side_entropy_model.compress(z)
        z_hat = self.side_entropy_model.decompress(side_string, tf.shape(z)[1:-1])
        features = self._features(z_hat, tf.shape(y)[1:-1])
        y_hat_slices, means, indexes = [], [], []
        for i, y_slice in enumerate(tf.split(y, self.num_slices, -1)):
            mean, scale_index = self.slice_transforms.exact(i, features, y_hat_slices)
            y_hat_slices.append(tf.round(y_slice - mean) + mean)
            means.append(mean)
            indexes.append(tf.cast(scale_index, tf.float32))
        string = self.entropy_model.compress(self._stack(tf.split(y, self.num_slices, -1)),
                                             self._stack(indexes), self._stack(means))
        return tf.concat([string, side_string], 0), tf.stack([tf.shape(y)[1:-1], tf.shape(z)[1:-1]])

    @tf.function(input_signature=[_STRINGS, _LATENT_SHAPES, _QUALITY])
    def entropy_decode(self, strings, latent_shapes, quality):
        """(strings, shapes) -> quantized gained latents (1, h, w, N): z first, then slice after slice from
        one range decoder."""
        del quality
        z_hat = self.side_entropy_model.decompress(strings[1:], latent_shapes[1])
        features = self._features(z_hat, latent_shapes[0])
        cdf, cdf_offset = self.entropy_model.cdf, self.entropy_model.cdf_offset
        handle = tfc.create_range_decoder(strings[:1], cdf)
        slice_shape = tf.concat([latent_shapes[0], [self.num_filters // self.num_slices]], 0)
        y_hat_slices = []
        for i in range(self.num_slices):
            mean, scale_index = self.slice_transforms.exact(i, features, y_hat_slices)
            handle, symbols = tfc.entropy_decode_index(handle, scale_index, slice_shape, cdf_offset.dtype)
            symbols += tf.gather(cdf_offset, scale_index)
            y_hat_slices.append(tf.cast(symbols, tf.float32) + mean)
        with tf.control_dependencies([tf.debugging.assert_equal(
                tfc.entropy_decode_finalize(handle), True, message="Sanity check failed.")]):
            return tf.identity(tf.concat(y_hat_slices, -1))

    @tf.function(input_signature=[_LATENTS, _IMAGE_SHAPE, _QUALITY])
    def synthesize(self, y_hat, x_shape, quality):
        """Quantized gained latents at a quality -> image (H, W, 3) uint8, cropped to the original size."""
        y_hat = y_hat * self.gain_units(tf.reshape(quality - 1.0, [1]), inverse=True)
        x_hat = self.synthesis_transform(y_hat)[0, :x_shape[0], :x_shape[1], :]
        return tf.saturate_cast(tf.round(x_hat), tf.uint8)

    @tf.function(input_signature=[_IMAGE, _QUALITY])
    def compress(self, x, quality):
        """Image (H, W, 3) uint8 at a quality -> (strings, latent shapes)."""
        return self.entropy_encode(self.analyze(x, quality), quality)

    # Refinement: the decoder is fixed, so the encoder may send any latents. Starting from the analysis
    # transform's guess, gradient steps on this one image's rate-distortion loss find cheaper ones (Campos et
    # al. 2019); rounding is stood in for by stochastic Gumbel annealing (Yang, Bamler and Mandt 2020), which
    # beats straight-through rounding and uniform noise there. Files decode as before.

    @tf.function(input_signature=[_IMAGE, _QUALITY, _STEPS])
    def compress_refined(self, x, quality, steps):
        """Image (H, W, 3) uint8 at a quality -> (strings, latent shapes) after `steps` refinement steps."""
        return self._encode(*self.refine(x, quality, steps))

    def refine(self, x: tf.Tensor, quality: tf.Tensor, steps: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """(latents, hyper-latents) of an image after `steps` Adam steps on its loss, temperature annealed."""
        level = tf.reshape(quality - 1.0, [1])
        x = tf.cast(x[None], self.compute_dtype)
        y = self.analysis_transform(x) * self.gain_units(level)
        z = self.hyper_analysis_transform(y)
        lmbda = tf.exp(interpolate(self.log_lambdas, level))[0]
        total = tf.cast(tf.maximum(steps, 1), tf.float32)

        def step(t, variables, first, second):
            progress = tf.cast(t, tf.float32) / total
            temperature = tf.maximum(REFINE_TEMPERATURE * tf.exp(-REFINE_DECAY * progress), REFINE_MIN_TEMPERATURE)
            with tf.GradientTape() as tape:
                tape.watch(variables)
                loss = self._refinement_loss(x, *variables, level, lmbda, temperature, t)
            gradients = tape.gradient(loss, variables)
            return (t + 1, *adam_step(t, variables, gradients, first, second, REFINE_LEARNING_RATE))

        zeros = [tf.zeros_like(y), tf.zeros_like(z)]
        _, (y, z), _, _ = tf.while_loop(lambda t, *_: t < steps, step, [0, [y, z], zeros, zeros])
        return y, z

    def _refinement_loss(self, x: tf.Tensor, y: tf.Tensor, z: tf.Tensor, level: tf.Tensor, lmbda: tf.Tensor,
                         temperature: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        """bpp + lambda * MSE of one image with z rounded straight-through and the slices soft-rounded."""
        _, side = self._entropy_models(compression=False)
        _, bits = side(z, training=False)

        def code(index, y_slice, mean, scale_index):
            offset = soft_round_sample(y_slice - mean, temperature, tf.stack([seed, index]))
            prior = tfc.NoisyNormal(loc=0.0, scale=scale_fn(tf.clip_by_value(scale_index, 0.0, NUM_SCALES - 1.0)))
            return offset + mean, tf.reduce_sum(prior.log_prob(offset)) / -math.log(2.0)

        y_hat, slice_bits = self._code_slices(y, side.quantize(z), code)
        x_hat = self.synthesis_transform(y_hat * self.gain_units(level, inverse=True))
        x_hat = x_hat[:, :tf.shape(x)[1], :tf.shape(x)[2], :]
        pixels = tf.cast(tf.shape(x)[1] * tf.shape(x)[2], tf.float32)
        return (tf.reduce_sum(bits) + slice_bits) / pixels + lmbda * tf.reduce_mean(tf.square(x - x_hat))

    @tf.function(input_signature=[_STRINGS, _IMAGE_SHAPE, _LATENT_SHAPES, _QUALITY])
    def decompress(self, strings, x_shape, latent_shapes, quality):
        """(strings, image shape, latent shapes, quality) -> image (H, W, 3) uint8."""
        return self.synthesize(self.entropy_decode(strings, latent_shapes, quality), x_shape, quality)

    @tf.function(input_signature=[_IMAGE, _QUALITY])
    def estimate_bits(self, x, quality):
        """Ideal code length (bits) of the image's coded latents and hyper-latents, with the fixed-point
        parameter networks the coder uses."""
        y = self.analyze(x, quality)
        z = self.hyper_analysis_transform(y)
        z_hat, bits = self.side_entropy_model(z, training=False)
        features = self._features(z_hat, tf.shape(y)[1:-1])
        y_hat_slices = []
        for i, y_slice in enumerate(tf.split(y, self.num_slices, -1)):
            mean, scale_index = self.slice_transforms.exact(i, features, y_hat_slices)
            y_hat_slice, slice_bits = self.entropy_model(y_slice, tf.cast(scale_index, tf.float32), loc=mean,
                                                         training=False)
            bits += slice_bits
            y_hat_slices.append(y_hat_slice)
        return tf.reduce_sum(bits)
