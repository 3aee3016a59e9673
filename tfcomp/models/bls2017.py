"""Ballé et al. (2017) factorized-prior codec with the lighter decoders of the faster-decoder thesis.

Data flows top to bottom: analysis transform -> factorized entropy model -> synthesis transform,
then the Keras model that trains them and the tf.functions a SavedModel exports for coding.
"""
from __future__ import annotations

import tensorflow as tf
import tensorflow_compression as tfc

from tfcomp.models.common import CodecModel
from tfcomp.models.decoder_variants import DECODER_VARIANTS


def analysis_transform(num_filters: int) -> tf.keras.Sequential:
    """Image in 0..255 -> latents at 1/16 resolution (three GDN convolutions)."""
    return tf.keras.Sequential([
        tf.keras.layers.Lambda(lambda x: x / 255.0),
        tfc.SignalConv2D(num_filters, (9, 9), name="layer_0", corr=True, strides_down=4,
                         padding="same_zeros", use_bias=True, activation=tfc.GDN(name="gdn_0")),
        tfc.SignalConv2D(num_filters, (5, 5), name="layer_1", corr=True, strides_down=2,
                         padding="same_zeros", use_bias=True, activation=tfc.GDN(name="gdn_1")),
        tfc.SignalConv2D(num_filters, (5, 5), name="layer_2", corr=True, strides_down=2,
                         padding="same_zeros", use_bias=False, activation=None),
    ], name="analysis")


def synthesis_transform(num_filters: int, decoder: str = "baseline") -> tf.keras.Sequential:
    """Latents -> image in 0..255, with the layer stack of the named decoder variant."""
    if decoder not in DECODER_VARIANTS:
        raise ValueError(f"unknown decoder {decoder!r}; choose from {sorted(DECODER_VARIANTS)}")
    spec = DECODER_VARIANTS[decoder]
    layers = []
    for i, (kernel, up) in enumerate(spec):
        last = i == len(spec) - 1
        layers.append(tfc.SignalConv2D(
            3 if last else num_filters, (kernel, kernel), name=f"layer_{i}", corr=False,
            strides_up=up, padding="same_zeros", use_bias=True,
            activation=None if last else tfc.GDN(name=f"igdn_{i}", inverse=True)))
    layers.append(tf.keras.layers.Lambda(lambda x: x * 255.0))
    return tf.keras.Sequential(layers, name="synthesis")


class BLS2017(CodecModel):
    """Factorized-prior codec: loss = bpp + lambda * distortion."""

    architecture = "bls2017"
    latent_strides = (16,)
    PARTS = ("analysis_transform", "synthesis_transform", "prior")

    def __init__(self, lmbda: float = 0.01, num_filters: int = 128, decoder: str = "baseline",
                 distortion: str = "mse", **kwargs):
        super().__init__(lmbda=lmbda, distortion=distortion, **kwargs)
        self.num_filters = num_filters
        self.decoder = decoder
        self.analysis_transform = analysis_transform(num_filters)
        self.synthesis_transform = synthesis_transform(num_filters, decoder)
        self.prior = tfc.NoisyDeepFactorized(batch_shape=(num_filters,))
        self.build((None, None, None, 3))
        self.entropy_model = None

    def get_config(self) -> dict:
        """Constructor arguments, recorded in each shipped model's metadata."""
        return dict(lmbda=self.lmbda, num_filters=self.num_filters, decoder=self.decoder,
                    distortion=self.distortion)

    @property
    def family(self) -> str:
        """'bls2017' for the baseline decoder, 'bls2017-<decoder>' for the lighter ones."""
        return self.architecture if self.decoder == "baseline" else f"{self.architecture}-{self.decoder}"

    def call(self, x: tf.Tensor, training: bool) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """Returns (loss, bpp, distortion) with additive noise (training) or rounding (eval)."""
        entropy_model = tfc.ContinuousBatchedEntropyModel(self.prior, coding_rank=3, compression=False)
        x = tf.cast(x, self.compute_dtype)
        y = self.analysis_transform(x)
        y_hat, bits = entropy_model(y, training=training)
        x_hat = self.synthesis_transform(y_hat)
        return self.rate_distortion(x, x_hat, bits)

    def enable_coding(self) -> None:
        """Fixes the range-coding tables; call after training, before saving or compressing."""
        self.entropy_model = tfc.ContinuousBatchedEntropyModel(self.prior, coding_rank=3, compression=True)

    def entropy_table_tensors(self) -> list[tf.Tensor]:
        """The tables both sides must share: hashed into every file's header."""
        return [self.entropy_model.cdf, self.entropy_model.cdf_offset]

    def latent_channels(self) -> int:
        """Channels of the latent tensor handed between analysis and synthesis."""
        return self.num_filters

    @tf.function(input_signature=[tf.TensorSpec(shape=(None, None, None, None), dtype=tf.float32)])
    def entropy_encode(self, y):
        """Latents -> (strings [1], latent shapes [1, 2])."""
        return self.entropy_model.compress(y), tf.shape(y)[1:-1][None]

    @tf.function(input_signature=[tf.TensorSpec(shape=(None,), dtype=tf.string),
                                  tf.TensorSpec(shape=(None, 2), dtype=tf.int32)])
    def entropy_decode(self, strings, latent_shapes):
        """(strings, latent shapes) -> quantized latents (1, h, w, N)."""
        return self.entropy_model.decompress(strings, latent_shapes[0])

    @tf.function(input_signature=[tf.TensorSpec(shape=(None, None, 3), dtype=tf.uint8)])
    def estimate_bits(self, x):
        """Ideal code length (bits) of the image's rounded latents under the coding prior."""
        _, bits = self.entropy_model(self.analyze(x), training=False)
        return tf.reduce_sum(bits)
