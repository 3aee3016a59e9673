"""SlimCAE: slimmable compressive autoencoder (Yang et al. 2021; the SlimCAE thesis).

One model holds a ladder of rates: bls2017's transforms made slimmable, so sub-model k runs the
leading widths[k] channels of every layer (widths in decreasing order, index 0 the widest and best),
with its own factorized prior. Data flows top to bottom: analysis transform at a width -> that width's
entropy model -> synthesis transform at that width; then the loss (with the SlimCAE thesis's optional CIELAB
chroma term), the Keras model that trains all widths jointly, and the tf.functions a SavedModel
exports, which take the width index as an int32 scalar (stored in a .tfc file's `variant` byte) and run the
transforms' inference path, so that a narrow width also decodes faster.
"""
from __future__ import annotations

import functools
from typing import Callable, Sequence

import tensorflow as tf
import tensorflow_compression as tfc

from tfcomp.layers.slimmable import GDN_VARIANTS, SlimmableSignalConv2D, slimmable_gdn
from tfcomp.models.common import CodecModel

DEFAULT_WIDTHS = (192, 144, 96, 72, 48)
# The reference code's lambdas 2048, 1024, 512, 256, 128 weigh MSE on the 0..1 scale; our MSE is on the
# 0..255 scale (CodecModel.rate_distortion), so the same trade-offs are these divided by 255^2.
DEFAULT_LAMBDAS = tuple(reference / 255.0 ** 2 for reference in (2048, 1024, 512, 256, 128))


class AnalysisTransform(tf.keras.layers.Layer):
    """Image in 0..255 -> latents at 1/16 resolution with `width` channels (bls2017's three layers)."""

    def __init__(self, widths: Sequence[int], gdn: str, **kwargs):
        super().__init__(name="analysis", **kwargs)
        full = max(widths)
        self.layer_0 = SlimmableSignalConv2D(3, full, (9, 9), corr=True, strides_down=4, name="layer_0")
        self.gdn_0 = slimmable_gdn(gdn, widths, name="gdn_0")
        self.layer_1 = SlimmableSignalConv2D(full, full, (5, 5), corr=True, strides_down=2, name="layer_1")
        self.gdn_1 = slimmable_gdn(gdn, widths, name="gdn_1")
        self.layer_2 = SlimmableSignalConv2D(full, full, (5, 5), corr=True, strides_down=2, use_bias=False,
                                             name="layer_2")

    def call(self, x: tf.Tensor, width: int, inference: bool = False) -> tf.Tensor:
        """Runs every layer at `width` output channels (inference: see SlimmableSignalConv2D.call)."""
        x = self.gdn_0(self.layer_0(x / 255.0, width, inference=inference))
        x = self.gdn_1(self.layer_1(x, width, inference=inference))
        return self.layer_2(x, width, inference=inference)


class SynthesisTransform(tf.keras.layers.Layer):
    """Latents with `width` channels -> image in 0..255 (bls2017's baseline decoder)."""

    def __init__(self, widths: Sequence[int], gdn: str, **kwargs):
        super().__init__(name="synthesis", **kwargs)
        full = max(widths)
        self.layer_0 = SlimmableSignalConv2D(full, full, (5, 5), corr=False, strides_up=2, name="layer_0")
        self.igdn_0 = slimmable_gdn(gdn, widths, inverse=True, name="igdn_0")
        self.layer_1 = SlimmableSignalConv2D(full, full, (5, 5), corr=False, strides_up=2, name="layer_1")
        self.igdn_1 = slimmable_gdn(gdn, widths, inverse=True, name="igdn_1")
        self.layer_2 = SlimmableSignalConv2D(full, 3, (9, 9), corr=False, strides_up=4, name="layer_2")

    def call(self, y: tf.Tensor, width: int, inference: bool = False) -> tf.Tensor:
        """Runs the hidden layers at `width` channels; the output layer always gives 3 (inference: see
        SlimmableSignalConv2D.call)."""
        x = self.igdn_0(self.layer_0(y, width, inference=inference))
        x = self.igdn_1(self.layer_1(x, width, inference=inference))
        return self.layer_2(x, inference=inference) * 255.0


def switchable_priors(widths: Sequence[int]) -> list[tfc.NoisyDeepFactorized]:
    """Switchable entropy models: one factorized prior per width, its variables named by the width."""
    result = []
    for width in widths:
        # Without a scope every prior's variables are named alike, and warm starts match by name.
        with tf.name_scope(f"width_{width}"):
            result.append(tfc.NoisyDeepFactorized(batch_shape=(width,)))
    return result


# sRGB primaries to CIE XYZ, and the D65 reference white (IEC 61966-2-1).
_RGB_TO_XYZ = ((0.4124564, 0.3575761, 0.1804375),
               (0.2126729, 0.7151522, 0.0721750),
               (0.0193339, 0.1191920, 0.9503041))
_D65_WHITE = (0.95047, 1.0, 1.08883)


def rgb_to_lab(rgb: tf.Tensor) -> tf.Tensor:
    """sRGB in 0..255 (clipped) -> CIELAB (L*, a*, b*) under D65; differentiable inside the range."""
    c = tf.clip_by_value(rgb / 255.0, 0.0, 1.0)
    linear = tf.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    xyz = tf.einsum("ij,...j->...i", tf.constant(_RGB_TO_XYZ, linear.dtype), linear) / _D65_WHITE
    delta = 6.0 / 29.0
    # The maximum keeps the cube root's infinite slope at 0 out of the unused branch's gradient.
    f = tf.where(xyz > delta ** 3, tf.maximum(xyz, delta ** 3) ** (1.0 / 3.0), xyz / (3 * delta ** 2) + 4.0 / 29.0)
    fx, fy, fz = tf.unstack(f, axis=-1)
    return tf.stack([116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)], axis=-1)


def chroma_difference(x: tf.Tensor, x_hat: tf.Tensor) -> tf.Tensor:
    """Mean over pixels of sqrt(da*^2 + db*^2), the CIELAB colour error with lightness left out.

    The SlimCAE thesis proposes the chroma difference C*(x_hat) - C*(x), C* = sqrt(a*^2 + b*^2): that sees the
    desaturation it observed at narrow widths but not hue shifts; this distance in the a*b* plane sees
    both (and is zero only for equal colours). Units are CIELAB delta E (about 2.3 is just noticeable).
    """
    difference = rgb_to_lab(x)[..., 1:] - rgb_to_lab(x_hat)[..., 1:]
    # The epsilon keeps the gradient finite where the colours are equal.
    return tf.reduce_mean(tf.sqrt(tf.reduce_sum(tf.square(difference), axis=-1) + 1e-6))


_IMAGE = tf.TensorSpec(shape=(None, None, 3), dtype=tf.uint8)
_LATENTS = tf.TensorSpec(shape=(None, None, None, None), dtype=tf.float32)
_STRINGS = tf.TensorSpec(shape=(None,), dtype=tf.string)
_IMAGE_SHAPE = tf.TensorSpec(shape=(2,), dtype=tf.int32)
_LATENT_SHAPES = tf.TensorSpec(shape=(None, 2), dtype=tf.int32)
_WIDTH_INDEX = tf.TensorSpec(shape=(), dtype=tf.int32)


class SlimCAE(CodecModel):
    """Slimmable codec: loss = sum over widths k of bpp_k + lambda_k * D_k (+ chroma_weight * chroma_k)."""

    architecture = "slimcae"
    latent_strides = (16,)
    PARTS = ("analysis_transform", "synthesis_transform", "priors")

    def __init__(self, lambdas: Sequence[float] = DEFAULT_LAMBDAS, widths: Sequence[int] = DEFAULT_WIDTHS,
                 gdn: str = "switchable", distortion: str = "mse", chroma_weight: float = 0.0, **kwargs):
        widths = tuple(int(w) for w in widths)
        if not widths or widths[-1] <= 0 or any(a <= b for a, b in zip(widths, widths[1:])):
            raise ValueError(f"widths must be positive and strictly decreasing, got {list(widths)}")
        if len(lambdas) != len(widths):
            raise ValueError(f"{len(widths)} widths need {len(widths)} lambdas, got {len(lambdas)}")
        if gdn not in GDN_VARIANTS:
            raise ValueError(f"unknown GDN variant {gdn!r}; choose from {sorted(GDN_VARIANTS)}")
        # CodecModel's lmbda becomes the vector of all widths' lambdas (see call()); a variable, so that
        # lambda scheduling can change it between training stages without retracing the train step.
        super().__init__(lmbda=tf.Variable([float(v) for v in lambdas], trainable=False, name="lambdas"),
                         distortion=distortion, **kwargs)
        self.widths = widths
        self.gdn = gdn
        self.chroma_weight = float(chroma_weight)
        self.analysis_transform = AnalysisTransform(widths, gdn)
        self.synthesis_transform = SynthesisTransform(widths, gdn)
        self.priors = switchable_priors(widths)
        self.build((None, None, None, 3))
        self.entropy_models = None

    @property
    def lambdas(self) -> list[float]:
        """The current lambda of every width."""
        # str() of a float32 is its shortest decimal, so 0.01 reads back as 0.01, not 0.009999999776.
        return [float(str(v)) for v in self.lmbda.numpy()]

    def set_lambdas(self, lambdas: Sequence[float]) -> None:
        """Changes the widths' lambdas (lambda scheduling); the compiled train step sees them at once."""
        if len(lambdas) != len(self.widths):
            raise ValueError(f"{len(self.widths)} widths need {len(self.widths)} lambdas, got {len(lambdas)}")
        self.lmbda.assign([float(v) for v in lambdas])

    def get_config(self) -> dict:
        """Constructor arguments, recorded in each shipped model's metadata."""
        return dict(lambdas=self.lambdas, widths=list(self.widths), gdn=self.gdn, distortion=self.distortion,
                    chroma_weight=self.chroma_weight)

    @property
    def family(self) -> str:
        """'slimcae' for switchable GDNs and MSE; '-<gdn>' and '-<distortion>' name the other choices
        ('slimcae-ms-ssim'): each is an RD curve of its own."""
        suffixes = [v for v, default in ((self.gdn, "switchable"), (self.distortion, "mse")) if v != default]
        return "-".join([self.architecture, *suffixes])

    def call(self, x: tf.Tensor, training: bool) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """Returns (loss summed over widths, bpp and MSE averaged over widths), with additive noise
        (training) or rounding (eval)."""
        x = tf.cast(x, self.compute_dtype)
        losses, bpps, mses = [], [], []
        for index, width in enumerate(self.widths):
            entropy_model = tfc.ContinuousBatchedEntropyModel(self.priors[index], coding_rank=3, compression=False)
            y = self.analysis_transform(x, width)
            y_hat, bits = entropy_model(y, training=training)
            x_hat = self.synthesis_transform(y_hat, width)
            # rate_distortion weighs the distortion by self.lmbda, all widths' lambdas: element `index`
            # is this width's loss.
            loss, bpp, mse = self.rate_distortion(x, x_hat, bits)
            loss = loss[index]
            if self.chroma_weight:
                loss += self.chroma_weight * chroma_difference(x, x_hat)
            losses.append(loss)
            bpps.append(bpp)
            mses.append(mse)
        return tf.add_n(losses), tf.reduce_mean(tf.stack(bpps)), tf.reduce_mean(tf.stack(mses))

    def enable_coding(self) -> None:
        """Fixes every width's range-coding tables; call after training, before saving or compressing."""
        self.entropy_models = [tfc.ContinuousBatchedEntropyModel(prior, coding_rank=3, compression=True)
                               for prior in self.priors]

    def entropy_table_tensors(self) -> list[tf.Tensor]:
        """The tables both sides must share, all widths in order: hashed into every file's header."""
        return [t for model in self.entropy_models for t in (model.cdf, model.cdf_offset)]

    def latent_channels(self, width_index: int = 0) -> int:
        """Channels of the latent tensor handed between analysis and synthesis at a width (widest: 0)."""
        return self.widths[width_index]

    def _at_width(self, width_index: tf.Tensor, branch: Callable[[int], tf.Tensor]):
        """branch(i) for the width index i held in a tensor: a width's slices must be static, so the
        graph has one branch per width."""
        in_range = tf.logical_and(width_index >= 0, width_index < len(self.widths))
        check = tf.debugging.Assert(in_range, ["width index out of range:", width_index])
        with tf.control_dependencies([check]):
            return tf.switch_case(width_index, [functools.partial(branch, i) for i in range(len(self.widths))])

    def _latents_at(self, y: tf.Tensor, index: int) -> tf.Tensor:
        """y with the static channel count of a width (fails if it has another)."""
        return tf.ensure_shape(y, (None, None, None, self.widths[index]))

    @tf.function(input_signature=[_IMAGE, _WIDTH_INDEX])
    def analyze(self, x, width_index):
        """Image (H, W, 3) uint8 -> latents (1, h, w, widths[width_index])."""
        x = tf.cast(x[None], self.compute_dtype)
        return self._at_width(width_index, lambda i: self.analysis_transform(x, self.widths[i], inference=True))

    @tf.function(input_signature=[_LATENTS, _WIDTH_INDEX])
    def entropy_encode(self, y, width_index):
        """Latents -> (strings [1], latent shapes [1, 2]) with the width's entropy model."""
        strings = self._at_width(width_index, lambda i: self.entropy_models[i].compress(self._latents_at(y, i)))
        return strings, tf.shape(y)[1:-1][None]

    @tf.function(input_signature=[_STRINGS, _LATENT_SHAPES, _WIDTH_INDEX])
    def entropy_decode(self, strings, latent_shapes, width_index):
        """(strings, latent shapes) -> quantized latents (1, h, w, widths[width_index])."""
        return self._at_width(width_index, lambda i: self.entropy_models[i].decompress(strings, latent_shapes[0]))

    @tf.function(input_signature=[_LATENTS, _IMAGE_SHAPE, _WIDTH_INDEX])
    def synthesize(self, y_hat, x_shape, width_index):
        """Quantized latents -> image (H, W, 3) uint8, cropped to the original size."""
        x_hat = self._at_width(width_index,
                               lambda i: self.synthesis_transform(self._latents_at(y_hat, i), self.widths[i],
                                                                  inference=True))
        return tf.saturate_cast(tf.round(x_hat[0, :x_shape[0], :x_shape[1], :]), tf.uint8)

    @tf.function(input_signature=[_IMAGE, _WIDTH_INDEX])
    def compress(self, x, width_index):
        """Image (H, W, 3) uint8 at a width index -> (strings, latent shapes)."""
        return self.entropy_encode(self.analyze(x, width_index), width_index)

    @tf.function(input_signature=[_STRINGS, _IMAGE_SHAPE, _LATENT_SHAPES, _WIDTH_INDEX])
    def decompress(self, strings, x_shape, latent_shapes, width_index):
        """(strings, image shape, latent shapes, width index) -> image (H, W, 3) uint8."""
        return self.synthesize(self.entropy_decode(strings, latent_shapes, width_index), x_shape, width_index)

    @tf.function(input_signature=[_IMAGE, _WIDTH_INDEX])
    def estimate_bits(self, x, width_index):
        """Ideal code length (bits) of the image's rounded latents at a width under its coding prior."""
        y = self.analyze(x, width_index)
        return self._at_width(
            width_index, lambda i: tf.reduce_sum(self.entropy_models[i](self._latents_at(y, i), training=False)[1]))
