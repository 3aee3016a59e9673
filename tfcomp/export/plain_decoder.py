"""A trained synthesis transform re-expressed in plain Keras layers, for TFLite, TFMOT and stock serving.

tfc's SignalConv2D lowers its upsampling to Conv2DBackpropInput with EXPLICIT padding (no TFLite op) and
keeps its kernel as an RDFT parameterization; tfc's inverse GDN is a custom Keras layer. The plain
decoder holds the same numbers as ordinary weights and computes the same function with stock ops:

    symbols (integers the range decoder returns) + quantization offset
    -> per layer: Conv2D with stride**2 x the channels -> depth_to_space -> IGDN
    -> x 255 (folded into the last layer) -> clamp to 0..255 (RELU6 fused into the last convolution)

Each transposed convolution becomes a sub-pixel convolution (one output phase per channel group, see
subpixel_kernel): CONV_2D and DEPTH_TO_SPACE are accepted by every mobile delegate and XNNPACK, while
TRANSPOSE_CONV has version and stride limits on most of them (DEPLOYMENT.md). The sub-pixel kernel
holds structural zeros (a 3x3 stride-2 layer becomes 2x2 taps per phase, 16 where 9 are used), so float
decoders can instead split each hidden layer into one small convolution per phase, concatenated in
depth_to_space's order (phase_kernels; split_phases=True): the same function with fewer multiplies.
Integer decoders keep one convolution per layer, so that each layer's output has one quantization range.
`tests/test_export.py` checks the equivalence against the tfc layers numerically.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf
import tensorflow_compression as tfc

# Re-exported: the transposed-convolution algebra lives with the layers that use it at decode time.
from tfcomp.layers.subpixel import phase_kernels, phase_offsets, subpixel_kernel  # noqa: F401


@dataclasses.dataclass
class DecoderLayer:
    """One upsampling layer of a synthesis transform, as plain arrays."""

    kernel: np.ndarray  # (k, k, in, out): tfc's convolution (corr=False) layout
    bias: np.ndarray  # (out,)
    stride: int
    igdn: tuple[np.ndarray, np.ndarray] | None  # (gamma (C, C), beta (C,)) of the inverse GDN after it

    @property
    def size(self) -> int:
        """Spatial kernel size k."""
        return self.kernel.shape[0]


def _tfc_layers(synthesis: tf.keras.Sequential) -> list[DecoderLayer]:
    layers = []
    for layer in synthesis.layers:
        if not isinstance(layer, tfc.SignalConv2D):
            continue
        if layer.corr or layer.strides_up[0] != layer.strides_up[1] or layer.padding != "same_zeros":
            raise ValueError(f"{layer.name}: only square 'same_zeros' upsampling convolutions are supported")
        layers.append(DecoderLayer(layer.kernel.numpy(), layer.bias.numpy(), layer.strides_up[0],
                                   _igdn(layer.activation)))
    return layers


def _igdn(activation) -> tuple[np.ndarray, np.ndarray] | None:
    if activation is None or activation is tf.keras.activations.linear:
        return None
    if not (isinstance(activation, tfc.GDN) and activation.inverse
            and float(activation.alpha) == 1.0 and float(activation.epsilon) == 1.0):
        raise ValueError("only tfc's default inverse GDN (alpha = epsilon = 1) has a plain equivalent here")
    return activation.gamma.numpy(), activation.beta.numpy()


def _slimmable_layers(synthesis, width_index: int) -> list[DecoderLayer]:
    """The sliced layers a slimmable synthesis runs at one width (see tfcomp.layers.slimmable)."""
    width = synthesis.igdn_0.widths[width_index]
    layers = []
    convs = [synthesis.layer_0, synthesis.layer_1, synthesis.layer_2]
    gdns = [synthesis.igdn_0, synthesis.igdn_1, None]
    for i, (conv, gdn) in enumerate(zip(convs, gdns)):
        out = width if gdn is not None else conv.conv.filters
        kernel = conv.conv.kernel[:, :, :width, :out].numpy()
        igdn = None
        if gdn is not None:
            if hasattr(gdn, "parameters"):
                gamma, beta = gdn.parameters(width_index)
            else:
                gamma, beta = gdn.gdns[width_index].gamma, gdn.gdns[width_index].beta
            igdn = (np.asarray(gamma), np.asarray(beta))
        layers.append(DecoderLayer(kernel, conv.conv.bias[:out].numpy(), conv.conv.strides_up[0], igdn))
    return layers


def latent_entropy_model(model, width_index: int | None = None):
    """The entropy model that codes the latents the synthesis transform reads (coding enabled)."""
    if getattr(model, "entropy_models", None) is not None and hasattr(model, "widths"):
        return model.entropy_models[width_index or 0]
    return model.entropy_model


def decoder_layers(model, width_index: int | None = None) -> list[DecoderLayer]:
    """The synthesis transform of a built Keras codec model (one width of a slimmable one) as plain
    layers, with the output scaling to 0..255 folded into the last layer."""
    if hasattr(model, "widths"):
        layers = _slimmable_layers(model.synthesis_transform, width_index or 0)
    else:
        layers = _tfc_layers(model.synthesis_transform)
    last = layers[-1]
    layers[-1] = dataclasses.replace(last, kernel=last.kernel * 255.0, bias=last.bias * 255.0)
    return layers


def quantization_offset(model, channels: int, width_index: int | None = None) -> np.ndarray:
    """Per-channel offset the decoder adds to the integer symbols of `channels` latent channels (zeros where
    the model uses none)."""
    entropy_model = latent_entropy_model(model, width_index)
    offset = getattr(entropy_model, "quantization_offset", None)
    if offset is None:
        return np.zeros(channels, np.float32)
    return np.broadcast_to(np.asarray(offset, np.float32), (channels,)).copy()


BETA_FLOOR = 1e-6
PIXEL_UNIT = 255.0 / 6.0  # the last layer works in these units so that RELU6 is the clamp to 0..255


class AtLeast(tf.keras.constraints.Constraint):
    """Clips weights from below."""

    def __init__(self, minimum: float):
        self.minimum = float(minimum)

    def __call__(self, w: tf.Tensor) -> tf.Tensor:
        """max(w, minimum)."""
        return tf.maximum(w, self.minimum)

    def get_config(self) -> dict:
        """Constructor arguments (Keras serialization)."""
        return {"minimum": self.minimum}


class InverseGDN(tf.keras.layers.Layer):
    """tfc's inverse GDN at alpha = epsilon = 1: x * (|x| @ gamma + beta), the sum as a 1x1 convolution
    (TFLite ABS, CONV_2D, MUL: all int8-capable)."""

    def __init__(self, channels: int, **kwargs):
        super().__init__(**kwargs)
        self.channels = channels
        # tfc keeps gamma and beta non-negative (beta above a floor); fine-tuning must too.
        self.norm = tf.keras.layers.Conv2D(channels, 1, use_bias=True, name="norm",
                                           kernel_constraint=tf.keras.constraints.NonNeg(),
                                           bias_constraint=AtLeast(BETA_FLOOR))
        # Identity here; quantization-aware training (tfcomp.export.qat) swaps in a fake-quantizer so that
        # |x| gets its own int8 range, as the converted ABS output does.
        self.magnitude_activation = tf.keras.activations.linear

    def build(self, input_shape) -> None:
        """Builds the 1x1 convolution that holds gamma (kernel) and beta (bias)."""
        self.norm.build(input_shape)
        super().build(input_shape)

    def call(self, x: tf.Tensor) -> tf.Tensor:
        """Applies the inverse normalization."""
        return x * self.norm(self.magnitude_activation(tf.abs(x)))

    def get_config(self) -> dict:
        """Constructor arguments (Keras serialization)."""
        return dict(super().get_config(), channels=self.channels)


class KeepZeros(tf.keras.constraints.Constraint):
    """Holds a sub-pixel kernel's structural zeros (taps outside the transposed kernel) at zero in training,
    so a fine-tuned decoder is still the transposed convolution it stands for."""

    def __init__(self, mask):
        self.mask = np.asarray(mask, np.float32)

    def __call__(self, kernel: tf.Tensor) -> tf.Tensor:
        """The kernel with the structural zeros re-applied."""
        return kernel * tf.constant(self.mask)

    def get_config(self) -> dict:
        """Constructor arguments (Keras serialization)."""
        return {"mask": self.mask.tolist()}


class DepthToSpace(tf.keras.layers.Layer):
    """tf.nn.depth_to_space as a Keras layer (TFLite DEPTH_TO_SPACE)."""

    def __init__(self, block_size: int, **kwargs):
        super().__init__(**kwargs)
        self.block_size = block_size

    def call(self, x: tf.Tensor) -> tf.Tensor:
        """Rearranges block_size**2 channel groups into block_size x block_size pixels."""
        return tf.nn.depth_to_space(x, self.block_size)

    def get_config(self) -> dict:
        """Constructor arguments (Keras serialization)."""
        return dict(super().get_config(), block_size=self.block_size)


class AddOffset(tf.keras.layers.Layer):
    """Adds the entropy model's per-channel quantization offset to the integer symbols."""

    def __init__(self, offset, **kwargs):
        super().__init__(**kwargs)
        self.offset = np.asarray(offset, np.float32)

    def call(self, symbols: tf.Tensor) -> tf.Tensor:
        """symbols + offset (a constant: TFLite ADD)."""
        return symbols + tf.constant(self.offset)

    def get_config(self) -> dict:
        """Constructor arguments (Keras serialization)."""
        return dict(super().get_config(), offset=self.offset.tolist())


def _subpixel_convolution(x: tf.Tensor, layer: DecoderLayer, index: int, last: bool) -> tuple[tf.Tensor, list]:
    """A layer as one convolution producing every phase (see subpixel_kernel); the last one clamped."""
    weights, (before, after) = subpixel_kernel(layer.kernel, layer.stride)
    bias = np.tile(layer.bias, layer.stride ** 2)
    if last:
        weights, bias = weights / PIXEL_UNIT, bias / PIXEL_UNIT
    if before != after:
        x = tf.keras.layers.ZeroPadding2D(((before, after), (before, after)), name=f"pad_{index}")(x)
    structure = subpixel_kernel(np.ones_like(layer.kernel), layer.stride)[0]
    conv = tf.keras.layers.Conv2D(weights.shape[3], weights.shape[0], name=f"layer_{index}",
                                  padding="same" if before == after else "valid",
                                  kernel_constraint=KeepZeros(structure))
    x = conv(x)
    if last:
        # The clamp to 0..255 as RELU6 in units of 255/6 right on the convolution: TFLite fuses it, so
        # full-int8 models quantize the last output over exactly 0..255 (no range lost to overshoot).
        x = tf.keras.layers.ReLU(max_value=6.0, name="clamp")(x)
    return x, [(conv, [weights, bias])]


def _phase_convolutions(x: tf.Tensor, layer: DecoderLayer, index: int) -> tuple[tf.Tensor, list]:
    """A hidden layer as one convolution per output phase, concatenated (see phase_kernels)."""
    outputs, assignments = [], []
    for phase, (weights, padding) in enumerate(phase_kernels(layer.kernel, layer.stride)):
        padded = tf.keras.layers.ZeroPadding2D(padding, name=f"pad_{index}_{phase}")(x) if np.any(padding) else x
        conv = tf.keras.layers.Conv2D(weights.shape[3], weights.shape[:2], name=f"layer_{index}_{phase}")
        outputs.append(conv(padded))
        assignments.append((conv, [weights, layer.bias]))
    return tf.keras.layers.Concatenate(name=f"phases_{index}")(outputs), assignments


def plain_synthesis(layers: list[DecoderLayer], offset: np.ndarray,
                    latent_shape: tuple[int | None, int | None] = (None, None),
                    name: str = "plain_synthesis", batch_size: int | None = 1,
                    split_phases: bool = False) -> tf.keras.Model:
    """A functional Keras decoder: integer symbols (1, h, w, C) float32 -> image (1, 16h, 16w, 3) in 0..255.
    Exports fix the batch to 1 (TFLite then needs no shape ops); training builds it with batch_size=None.
    split_phases: hidden layers as one convolution per phase (float decoders: fewer multiplies); the last
    layer stays one convolution (split into phases of 3 channels each, it runs slower on XNNPACK)."""
    channels = layers[0].kernel.shape[2]
    symbols = tf.keras.Input((*latent_shape, channels), batch_size=batch_size, name="symbols")
    x = AddOffset(offset, name="offset")(symbols) if np.any(offset) else symbols
    assignments = []
    for i, layer in enumerate(layers):
        last = i == len(layers) - 1
        if split_phases and not last:
            x, made = _phase_convolutions(x, layer, i)
        else:
            x, made = _subpixel_convolution(x, layer, i, last)
        assignments += made
        x = DepthToSpace(layer.stride, name=f"upsample_{i}")(x)
        if layer.igdn is not None:
            igdn = InverseGDN(layer.kernel.shape[3], name=f"igdn_{i}")
            x = igdn(x)
            gamma, beta = layer.igdn
            assignments.append((igdn.norm, [gamma[None, None], beta]))
    image = tf.keras.layers.Rescaling(PIXEL_UNIT, name="pixels")(x)
    model = tf.keras.Model(symbols, image, name=name)
    for keras_layer, weights in assignments:
        keras_layer.set_weights(weights)
    return model


CUSTOM_OBJECTS = {cls.__name__: cls for cls in (InverseGDN, AddOffset, DepthToSpace, KeepZeros, AtLeast)}
GAMMA_COLUMN_FLOOR = 1e-4


def copy(decoder: tf.keras.Model) -> tf.keras.Model:
    """An independent copy of a plain decoder (same architecture and weights)."""
    with tf.keras.utils.custom_object_scope(CUSTOM_OBJECTS):
        clone = tf.keras.models.clone_model(decoder)
    clone.set_weights(decoder.get_weights())
    return clone


def floor_gamma_columns(decoder: tf.keras.Model) -> int:
    """Raises gamma[j, j] to GAMMA_COLUMN_FLOOR wherever column j of an IGDN's gamma is all below it (a
    channel whose normalization is just beta); returns how many columns changed.

    int8 conversion quantizes the 1x1 kernel per output channel: a column of ~1e-11 gets a scale so small
    that beta, stored as int32 in units of input scale x that scale, overflows, and the channel's
    normalization comes out wrong (TFLite's post-training converter widens such a scale itself; QAT
    conversion keeps TFMOT's). The floor changes the normalization by at most 1e-4 |x_j|, the output by
    1e-4 x_j**2."""
    return sum(floor_gamma_kernel(layer.norm.kernel) for layer in decoder.layers if isinstance(layer, InverseGDN))


def floor_gamma_kernel(kernel: tf.Variable) -> int:
    """floor_gamma_columns on one IGDN's 1x1 kernel variable; returns how many columns changed."""
    value = kernel.numpy()
    low = np.flatnonzero(value[0, 0].max(axis=0) < GAMMA_COLUMN_FLOOR)
    value[0, 0, low, low] = GAMMA_COLUMN_FLOOR
    kernel.assign(value)
    return len(low)
