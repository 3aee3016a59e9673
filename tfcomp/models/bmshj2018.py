"""Ballé et al. (2018) scale-hyperprior codec.

Data flows top to bottom: analysis -> hyper-analysis of |y| -> factorized side information z ->
hyper-synthesis predicts a scale per latent -> Gaussian conditional codes y -> synthesis.
A file has two parts: the latents (stride 16) and the hyper-latents (stride 64).

The hyper-synthesis picks every latent's table, so it runs in fixed point when coding (tfcomp.layers.exact):
the same indexes on every machine, whatever float kernels its library has. Its transposed convolutions are
written in sub-pixel form (stride-1 convolutions and depth_to_space), which that fixed-point layer computes.
"""
from __future__ import annotations

import tensorflow as tf
import tensorflow_compression as tfc

from tfcomp.layers.exact import ExactConv2D, ExactNetwork, fixed_point_index, to_fixed_point
from tfcomp.models import bls2017
from tfcomp.models.common import CodecModel

# Scale table of the Gaussian conditional: 64 scales spaced logarithmically from 0.11 to 256.
SCALE_MIN, SCALE_MAX, NUM_SCALES = 0.11, 256.0, 64


def _conv(filters: int, kernel: int, stride: int, name: str, activation, down: bool = True, bias: bool = True):
    return tfc.SignalConv2D(filters, (kernel, kernel), name=name, corr=down, padding="same_zeros",
                            use_bias=bias, activation=activation,
                            **({"strides_down": stride} if down else {"strides_up": stride}))


def analysis_transform(num_filters: int) -> tf.keras.Sequential:
    """Image in 0..255 -> latents y at 1/16 resolution (four 5x5/2 convolutions, GDN)."""
    return tf.keras.Sequential([
        tf.keras.layers.Lambda(lambda x: x / 255.0),
        _conv(num_filters, 5, 2, "layer_0", tfc.GDN(name="gdn_0")),
        _conv(num_filters, 5, 2, "layer_1", tfc.GDN(name="gdn_1")),
        _conv(num_filters, 5, 2, "layer_2", tfc.GDN(name="gdn_2")),
        _conv(num_filters, 5, 2, "layer_3", None, bias=False),
    ], name="analysis")


def synthesis_transform(num_filters: int) -> tf.keras.Sequential:
    """Latents -> image in 0..255 (four 5x5/2 transposed convolutions, inverse GDN)."""
    return tf.keras.Sequential([
        _conv(num_filters, 5, 2, "layer_0", tfc.GDN(name="igdn_0", inverse=True), down=False),
        _conv(num_filters, 5, 2, "layer_1", tfc.GDN(name="igdn_1", inverse=True), down=False),
        _conv(num_filters, 5, 2, "layer_2", tfc.GDN(name="igdn_2", inverse=True), down=False),
        _conv(3, 5, 2, "layer_3", None, down=False),
        tf.keras.layers.Lambda(lambda x: x * 255.0),
    ], name="synthesis")


def hyper_analysis_transform(num_filters: int) -> tf.keras.Sequential:
    """|y| -> hyper-latents z at 1/4 of the latent resolution."""
    return tf.keras.Sequential([
        _conv(num_filters, 3, 1, "layer_0", tf.nn.relu),
        _conv(num_filters, 5, 2, "layer_1", tf.nn.relu),
        _conv(num_filters, 5, 2, "layer_2", None, bias=False),
    ], name="hyper_analysis")


def hyper_synthesis_transform(num_filters: int) -> ExactNetwork:
    """z -> a fractional scale index per latent element: the paper's 5x5/2, 5x5/2 and 3x3 transposed
    convolutions in sub-pixel form (a 5x5 kernel upsampling by 2 reads 3x3 inputs per output phase)."""
    return ExactNetwork([
        ExactConv2D(num_filters, 3, upsample=2, name="layer_0"),
        ExactConv2D(num_filters, 3, upsample=2, name="layer_1"),
        ExactConv2D(num_filters, 3, relu=False, name="layer_2"),
    ], name="hyper_synthesis")


# The paper's four-layer transforms, or bls2017's (so a trained factorized model can warm-start one).
TRANSFORMS = {
    "bmshj2018": (analysis_transform, synthesis_transform),
    "bls2017": (bls2017.analysis_transform, bls2017.synthesis_transform),
}


def scale_fn(index: tf.Tensor) -> tf.Tensor:
    """Scale of the Gaussian conditional for a (fractional) index into the log-spaced table."""
    offset = tf.math.log(SCALE_MIN)
    factor = (tf.math.log(SCALE_MAX) - tf.math.log(SCALE_MIN)) / (NUM_SCALES - 1.0)
    return tf.math.exp(offset + factor * index)


class BMSHJ2018(CodecModel):
    """Scale-hyperprior codec: loss = (bits of y + bits of z) per pixel + lambda * distortion."""

    architecture = "bmshj2018"
    latent_strides = (16, 64)
    PARTS = ("analysis_transform", "synthesis_transform", "hyper_analysis_transform",
             "hyper_synthesis_transform", "hyperprior")

    def __init__(self, lmbda: float = 0.01, num_filters: int = 128, num_hyper_filters: int = 128,
                 distortion: str = "mse", transforms: str = "bmshj2018", **kwargs):
        super().__init__(lmbda=lmbda, distortion=distortion, **kwargs)
        if transforms not in TRANSFORMS:
            raise ValueError(f"unknown transforms {transforms!r}; choose from {sorted(TRANSFORMS)}")
        self.num_filters = num_filters
        self.num_hyper_filters = num_hyper_filters
        self.transforms = transforms
        analysis, synthesis = TRANSFORMS[transforms]
        self.analysis_transform = analysis(num_filters)
        self.synthesis_transform = synthesis(num_filters)
        self.hyper_analysis_transform = hyper_analysis_transform(num_hyper_filters)
        self.hyper_synthesis_transform = hyper_synthesis_transform(num_filters)
        self.hyperprior = tfc.NoisyDeepFactorized(batch_shape=(num_hyper_filters,))
        self.build((None, None, None, 3))
        self.entropy_model = self.side_entropy_model = None

    def get_config(self) -> dict:
        """Constructor arguments, recorded in each shipped model's metadata."""
        return dict(lmbda=self.lmbda, num_filters=self.num_filters, num_hyper_filters=self.num_hyper_filters,
                    distortion=self.distortion, transforms=self.transforms)

    def _entropy_models(self, compression: bool):
        conditional = tfc.LocationScaleIndexedEntropyModel(
            tfc.NoisyNormal, NUM_SCALES, scale_fn, coding_rank=3, compression=compression)
        side = tfc.ContinuousBatchedEntropyModel(self.hyperprior, coding_rank=3, compression=compression)
        return conditional, side

    def _indexes(self, z_hat: tf.Tensor, y_shape: tf.Tensor) -> tf.Tensor:
        """Fractional scale indexes for the latents (float path, training), cropped to their size (z covers
        y rounded up to 4)."""
        return self.hyper_synthesis_transform(z_hat)[:, :y_shape[1], :y_shape[2], :]

    def _coding_indexes(self, z_hat: tf.Tensor, y_shape: tf.Tensor) -> tf.Tensor:
        """Integer scale indexes (as float32) from the fixed-point hyper-synthesis: what the coder uses, the
        same on every machine."""
        u = self.hyper_synthesis_transform.exact(to_fixed_point(z_hat))[:, :y_shape[1], :y_shape[2], :]
        return tf.cast(fixed_point_index(u, NUM_SCALES), tf.float32)

    def latent_bits(self, y: tf.Tensor, training: bool) -> tuple[tf.Tensor, tf.Tensor]:
        """(y_hat, bits per image of latents and hyper-latents) with noise (training) or rounding (eval)."""
        entropy_model, side_entropy_model = self._entropy_models(compression=False)
        z = self.hyper_analysis_transform(abs(y))
        z_hat, side_bits = side_entropy_model(z, training=training)
        y_hat, bits = entropy_model(y, self._indexes(z_hat, tf.shape(y)), training=training)
        return y_hat, bits + side_bits

    def call(self, x: tf.Tensor, training: bool) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """Returns (loss, bpp, mse) with additive noise (training) or rounding (eval)."""
        x = tf.cast(x, self.compute_dtype)
        y_hat, bits = self.latent_bits(self.analysis_transform(x), training)
        return self.rate_distortion(x, self.synthesis_transform(y_hat), bits)

    def enable_coding(self) -> None:
        """Fixes the range-coding tables; call after training, before saving or compressing."""
        self.entropy_model, self.side_entropy_model = self._entropy_models(compression=True)
        self.hyper_synthesis_transform.check_bounds()

    def entropy_table_tensors(self) -> list[tf.Tensor]:
        """What both sides must share, hashed into every file's header: the tables, and the hyper-synthesis
        weights (bit patterns), which pick a table for every latent."""
        return [self.entropy_model.cdf, self.entropy_model.cdf_offset,
                self.side_entropy_model.cdf, self.side_entropy_model.cdf_offset,
                *self.hyper_synthesis_transform.weight_bits()]

    def latent_channels(self) -> int:
        """Channels of the latent tensor handed between analysis and synthesis."""
        return self.num_filters

    @tf.function(input_signature=[tf.TensorSpec(shape=(None, None, None, None), dtype=tf.float32)])
    def entropy_encode(self, y):
        """Latents -> (strings [latents, hyper-latents], their shapes [2, 2])."""
        z = self.hyper_analysis_transform(abs(y))
        side_string = self.side_entropy_model.compress(z)
        z_hat = self.side_entropy_model.decompress(side_string, tf.shape(z)[1:-1])
        string = self.entropy_model.compress(y, self._coding_indexes(z_hat, tf.shape(y)))
        return tf.concat([string, side_string], 0), tf.stack([tf.shape(y)[1:-1], tf.shape(z)[1:-1]])

    @tf.function(input_signature=[tf.TensorSpec(shape=(None,), dtype=tf.string),
                                  tf.TensorSpec(shape=(None, 2), dtype=tf.int32)])
    def entropy_decode(self, strings, latent_shapes):
        """(strings, shapes) -> quantized latents (1, h, w, N): hyper-latents first, then the latents."""
        z_hat = self.side_entropy_model.decompress(strings[1:], latent_shapes[1])
        shape = tf.concat([[1], latent_shapes[0], [self.num_filters]], 0)
        return self.entropy_model.decompress(strings[:1], self._coding_indexes(z_hat, shape))

    @tf.function(input_signature=[tf.TensorSpec(shape=(None, None, 3), dtype=tf.uint8)])
    def estimate_bits(self, x):
        """Ideal code length (bits) of the image's rounded latents and hyper-latents."""
        y = self.analyze(x)
        z = self.hyper_analysis_transform(abs(y))
        z_hat, side_bits = self.side_entropy_model(z, training=False)
        _, bits = self.entropy_model(y, self._coding_indexes(z_hat, tf.shape(y)), training=False)
        return tf.reduce_sum(bits) + tf.reduce_sum(side_bits)
