"""Slimmable layers (Yang et al. 2021, the SlimCAE thesis): one set of full-width parameters, run at any width.

A layer at width w uses the leading w channels: a convolution slices its full kernel to
[:, :, :w_in, :w_out] and its bias to [:w_out]; a GDN uses the (w, w) block of gamma and the leading w
betas, or (switchable GDN) parameters of its own. In training the arithmetic is tfc's: each call runs a
throwaway tfc layer whose parameters are the slices, so padding, strides, the transposed-convolution
path and the GDN formula are exactly those of tfc.SignalConv2D and tfc.GDN. Decoding (inference=True) computes
the same function within float rounding at a cost that shrinks with the width: kernels from the sliced RDFT
parameters by a matrix product, upsampling as a sub-pixel convolution (see SlimmableSignalConv2D.call).
"""
from __future__ import annotations

import functools
from typing import Sequence

import numpy as np
import tensorflow as tf
import tensorflow_compression as tfc

from tfcomp.layers.subpixel import upsample as subpixel_upsample

# tfc.GDN keeps beta at or above this; a modulated beta is held to the same floor.
BETA_MINIMUM = 1e-6


class SlimmableSignalConv2D(tf.keras.layers.Layer):
    """A full-width tfc.SignalConv2D (padding "same_zeros") that runs on the leading channels."""

    def __init__(self, in_channels: int, filters: int, kernel_support: tuple[int, int], corr: bool,
                 strides_down: int = 1, strides_up: int = 1, use_bias: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.in_channels = in_channels
        self.conv = tfc.SignalConv2D(filters, kernel_support, corr=corr, strides_down=strides_down,
                                     strides_up=strides_up, padding="same_zeros", use_bias=use_bias)

    def build(self, input_shape) -> None:
        """Creates the full-width parameters, whatever width the first call uses."""
        self.conv.build(tf.TensorShape([None, None, None, self.in_channels]))
        super().build(input_shape)

    def sliced_kernel(self, in_channels: int, filters: int) -> tf.Tensor:
        """The spatial kernel (k, k, in_channels, filters) of the leading channels, computed from the sliced
        RDFT parameters by one matrix product: tfc's kernel property inverse-FFTs the whole full-width kernel
        on every call, a cost that does not shrink with the width (tens of ms per layer on 2 CPU cores)."""
        parameter = self.conv.kernel_parameter
        size = self.conv.kernel_support[0]
        real_basis, imag_basis = _inverse_rdft_bases(size)
        real = tf.reshape(parameter.real[:in_channels, :filters], (in_channels * filters, -1))
        imag = tf.reshape(parameter.imag[:in_channels, :filters], (in_channels * filters, -1))
        flat = tf.matmul(real, real_basis) + tf.matmul(imag, imag_basis)
        return tf.transpose(tf.reshape(flat, (in_channels, filters, size, size)), (2, 3, 0, 1))

    def call(self, inputs: tf.Tensor, filters: int | None = None, inference: bool = False) -> tf.Tensor:
        """Leading `filters` output channels (all by default) from the input's (leading) channels.
        inference: the decoding path, the same function within float rounding but with a cost that follows the
        width: the kernel from its slice (sliced_kernel), and upsampling as an ordinary convolution and
        depth_to_space (tfcomp.layers.subpixel), where TensorFlow's transposed convolution costs about the same
        at any width on CPU."""
        in_channels = inputs.shape[-1]
        filters = self.conv.filters if filters is None else filters
        if in_channels is None or not 0 < in_channels <= self.in_channels or not 0 < filters <= self.conv.filters:
            raise ValueError(f"{self.name}: cannot run {in_channels} -> {filters} channels of a "
                             f"{self.in_channels} -> {self.conv.filters} layer")
        full = self.conv
        if inference:
            kernel = self.sliced_kernel(in_channels, filters)
        else:
            kernel = full.kernel[:, :, :in_channels, :filters]
        stride = full.strides_up[0]
        if inference and stride > 1 and not full.corr and full.strides_up == (stride, stride):
            outputs = subpixel_upsample(inputs, kernel, stride)
            return outputs + full.bias[:filters] if full.use_bias else outputs
        # Built per call (at trace time in graphs): it holds no variables, so nothing needs tracking.
        view = tfc.SignalConv2D(
            filters, full.kernel_support, corr=full.corr, strides_down=full.strides_down,
            strides_up=full.strides_up, padding=full.padding, use_bias=full.use_bias, kernel_parameter=kernel,
            **({"bias_parameter": full.bias[:filters]} if full.use_bias else {}))
        return view(inputs)


@functools.lru_cache(maxsize=None)
def _inverse_rdft_bases(size: int) -> tuple[np.ndarray, np.ndarray]:
    """(real, imaginary) matrices (size * (size // 2 + 1), size * size) that map an RDFT parameter's parts to
    the spatial kernel as tfc.RDFTParameter does: inverse 2-D real FFT, scaled by sqrt(size * size)."""
    bins = size * (size // 2 + 1)
    unit = np.eye(bins).reshape(bins, size, size // 2 + 1)
    real = np.fft.irfft2(unit, s=(size, size)).reshape(bins, size * size) * size
    imag = np.fft.irfft2(1j * unit, s=(size, size)).reshape(bins, size * size) * size
    return real.astype(np.float32), imag.astype(np.float32)


def _width_index(layer: tf.keras.layers.Layer, widths: Sequence[int], inputs: tf.Tensor) -> int:
    """Which of the layer's widths the input has (its static channel count)."""
    channels = inputs.shape[-1]
    if channels not in widths:
        raise ValueError(f"{layer.name}: input has {channels} channels; this layer runs at {list(widths)}")
    return list(widths).index(channels)


class SwitchableGDN(tf.keras.layers.Layer):
    """Switchable GDN: an independent tfc.GDN for every width (the SlimCAE reference code's choice)."""

    def __init__(self, widths: Sequence[int], inverse: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.widths = tuple(widths)
        self.gdns = [tfc.GDN(inverse=inverse, name=f"width_{w}") for w in self.widths]

    def build(self, input_shape) -> None:
        """Creates every width's parameters, under names that say the width."""
        for width, gdn in zip(self.widths, self.gdns):
            with tf.name_scope(gdn.name):
                gdn.build(tf.TensorShape([None, None, None, width]))
        super().build(input_shape)

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        """Normalizes with the GDN of the input's width."""
        return self.gdns[_width_index(self, self.widths, inputs)](inputs)


class SlimmableGDN(tf.keras.layers.Layer):
    """Slimmable GDN: one full-width tfc.GDN; width w uses gamma[:w, :w] and beta[:w]."""

    def __init__(self, widths: Sequence[int], inverse: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.widths = tuple(widths)
        self.inverse = inverse
        self.gdn = tfc.GDN(inverse=inverse, name="shared")

    def build(self, input_shape) -> None:
        """Creates the shared full-width parameters."""
        with tf.name_scope(self.gdn.name):
            self.gdn.build(tf.TensorShape([None, None, None, max(self.widths)]))
        super().build(input_shape)

    def parameters(self, index: int) -> tuple[tf.Tensor, tf.Tensor]:
        """(gamma, beta) of the width with this index."""
        width = self.widths[index]
        return self.gdn.gamma[:width, :width], self.gdn.beta[:width]

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        """Normalizes with the parameters of the input's width."""
        gamma, beta = self.parameters(_width_index(self, self.widths, inputs))
        return tfc.GDN(inverse=self.inverse, gamma_parameter=gamma, beta_parameter=beta)(inputs)


class ModulatedGDN(SlimmableGDN):
    """Slimmable GDN with switchable modulation: width k uses gamma_k = s_g,k * gamma + b_g,k and
    beta_k = s_b,k * beta + b_b,k on the shared slices, four non-negative scalars per width."""

    def build(self, input_shape) -> None:
        """Creates the shared parameters and the modulation, which starts as the identity (s=1, b=0)."""
        super().build(input_shape)
        ones, zeros = tf.ones([len(self.widths)]), tf.zeros([len(self.widths)])
        # tfc's GDN reparameterization: non-negative, and exactly 1 and 0 at initialization.
        self.gamma_scale = tfc.GDNParameter(ones, name="gamma_scale", minimum=0)
        self.gamma_offset = tfc.GDNParameter(zeros, name="gamma_offset", minimum=0)
        self.beta_scale = tfc.GDNParameter(ones, name="beta_scale", minimum=0)
        self.beta_offset = tfc.GDNParameter(zeros, name="beta_offset", minimum=0)

    def parameters(self, index: int) -> tuple[tf.Tensor, tf.Tensor]:
        """(gamma, beta) of the width with this index, modulated."""
        gamma, beta = super().parameters(index)
        gamma = self.gamma_scale()[index] * gamma + self.gamma_offset()[index]
        beta = self.beta_scale()[index] * beta + self.beta_offset()[index]
        # Both scalars may reach 0; the bound keeps the divisor positive (gradients still pass upwards).
        return gamma, tfc.lower_bound(beta, BETA_MINIMUM)


GDN_VARIANTS: dict[str, type[tf.keras.layers.Layer]] = {
    "switchable": SwitchableGDN,
    "slimmable": SlimmableGDN,
    "modulated": ModulatedGDN,
}


def slimmable_gdn(variant: str, widths: Sequence[int], inverse: bool = False, name: str | None = None):
    """A GDN (inverse GDN) layer of the named the SlimCAE thesis variant for these widths."""
    if variant not in GDN_VARIANTS:
        raise ValueError(f"unknown GDN variant {variant!r}; choose from {sorted(GDN_VARIANTS)}")
    return GDN_VARIANTS[variant](widths, inverse=inverse, name=name)
