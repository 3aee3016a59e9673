"""Convolutional networks whose coding-time evaluation is integer arithmetic, so that every machine computes
the same entropy-model parameters bit for bit (Ballé, Johnston and Minnen, "Integer networks for data
compression with latent-variable models", ICLR 2019).

A hyperprior codec picks each latent's probability table and mean with a network. If the encoder's and
the decoder's machines compute that network with different float kernels (oneDNN on one, Eigen on the
other, another summation order, FMA), a last-bit difference picks another table and the range decoder
reads garbage. Here training runs an ordinary float32 network, and coding runs it in fixed point:
an activation a is the integer round(a * 2**ACTIVATION_BITS), a weight w the integer round(w * 2**WEIGHT_BITS),
a bias the integer round(b * 2**(ACTIVATION_BITS + WEIGHT_BITS)). Every sum of a layer is then an integer
below 2**52 (check_bounds), which float64 holds exactly, so tf.nn.conv2d in float64 returns the same
integers whatever kernel, summation order or fused multiply-add a machine's library uses. Requantizing
divides by a power of two and rounds half up (floor(v + 1/2)), also exact. A decoder without TensorFlow
reproduces the same integers with int64 arithmetic (docs/FORMAT.md).

With 10 fractional bits for activations and 14 for weights the fixed-point network differs from the float
one by far less than the training noise; the codec's rate estimate uses the fixed-point path.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

ACTIVATION_BITS = 10
WEIGHT_BITS = 14
# Activations (and network inputs) are clipped to +-ACTIVATION_LIMIT: |fixed-point activation| <= 2**20.
ACTIVATION_LIMIT = 2.0 ** 10
# The largest integer every partial sum must stay below for float64 to hold it exactly (2**53), with margin.
SUM_LIMIT = 2.0 ** 52


class ExactConv2D(tf.keras.layers.Layer):
    """A same-padded stride-1 convolution, optionally followed by depth_to_space upsampling and ReLU, with a
    float path for training (call) and a fixed-point path for coding (exact)."""

    def __init__(self, filters: int, kernel_size: int = 3, upsample: int = 1, relu: bool = True,
                 kernel_initializer=None, bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.kernel_size = kernel_size
        self.upsample = upsample
        self.relu = relu
        default = tf.keras.initializers.HeNormal() if relu else tf.keras.initializers.GlorotUniform()
        self.kernel_initializer = kernel_initializer or default
        self.bias_initializer = bias_initializer

    def build(self, input_shape) -> None:
        """Kernel (k, k, in, filters * upsample**2) and bias."""
        outputs = self.filters * self.upsample ** 2
        self.kernel = self.add_weight(
            "kernel", (self.kernel_size, self.kernel_size, int(input_shape[-1]), outputs),
            initializer=self.kernel_initializer)
        self.bias = self.add_weight("bias", (outputs,), initializer=self.bias_initializer)
        super().build(input_shape)

    def _finish(self, values: tf.Tensor, limit: float) -> tf.Tensor:
        if self.upsample > 1:
            values = tf.nn.depth_to_space(values, self.upsample)
        if self.relu:
            values = tf.nn.relu(values)
        return tf.clip_by_value(values, -limit, limit)

    def call(self, x: tf.Tensor) -> tf.Tensor:
        """Float path (training)."""
        values = tf.nn.conv2d(x, self.kernel, 1, "SAME") + self.bias
        return self._finish(values, ACTIVATION_LIMIT)

    def integer_weights(self) -> tuple[tf.Tensor, tf.Tensor]:
        """(kernel, bias) as integers in float64: the only weights the coding path uses."""
        kernel = tf.round(tf.cast(self.kernel, tf.float64) * 2.0 ** WEIGHT_BITS)
        bias = tf.round(tf.cast(self.bias, tf.float64) * 2.0 ** (WEIGHT_BITS + ACTIVATION_BITS))
        return kernel, bias

    def exact(self, u: tf.Tensor) -> tf.Tensor:
        """Fixed-point path (coding): integer activations in float64 in, integer activations out."""
        kernel, bias = self.integer_weights()
        sums = tf.nn.conv2d(u, kernel, 1, "SAME") + bias
        values = tf.floor(sums * 2.0 ** -WEIGHT_BITS + 0.5)
        return self._finish(values, ACTIVATION_LIMIT * 2.0 ** ACTIVATION_BITS)

    def check_bounds(self) -> None:
        """Raises if some output's sum could reach 2**52 (then float64 would round it)."""
        kernel, bias = (np.abs(w.numpy()) for w in self.integer_weights())
        worst = kernel.sum(axis=(0, 1, 2)) * ACTIVATION_LIMIT * 2.0 ** ACTIVATION_BITS + bias
        if worst.max() >= SUM_LIMIT:
            raise ValueError(f"{self.name}: weights too large for exact fixed-point sums ({worst.max():.3g})")


class ExactNetwork(tf.keras.layers.Layer):
    """A stack of ExactConv2D layers: float in, float out for training; the same network in fixed point
    for coding."""

    def __init__(self, layers: list[ExactConv2D], **kwargs):
        super().__init__(**kwargs)
        self.convs = layers

    def call(self, x: tf.Tensor) -> tf.Tensor:
        """Float path (training and rate estimates during training)."""
        x = tf.clip_by_value(x, -ACTIVATION_LIMIT, ACTIVATION_LIMIT)
        for conv in self.convs:
            x = conv(x)
        return x

    def exact(self, u: tf.Tensor) -> tf.Tensor:
        """Fixed-point path: fixed-point inputs (to_fixed_point) to fixed-point outputs, float64 integers."""
        for conv in self.convs:
            u = conv.exact(u)
        return u

    def check_bounds(self) -> None:
        """Raises if any layer's sums could leave float64's exact integers."""
        for conv in self.convs:
            conv.check_bounds()

    def weight_bits(self) -> list[tf.Tensor]:
        """The weights' float32 bit patterns as int32, for a model's table hash: the coder's indexes depend on
        them, so a file must not decode with other weights."""
        return [tf.bitcast(w, tf.int32) for w in self.weights]


def to_fixed_point(x: tf.Tensor) -> tf.Tensor:
    """Values (integers, or with at most ACTIVATION_BITS fractional bits) as clipped fixed-point integers in
    float64; the network's float path clips its inputs the same way."""
    u = tf.round(tf.cast(x, tf.float64) * 2.0 ** ACTIVATION_BITS)
    limit = ACTIVATION_LIMIT * 2.0 ** ACTIVATION_BITS
    return tf.clip_by_value(u, -limit, limit)


def fixed_point_value(u: tf.Tensor) -> tf.Tensor:
    """Fixed-point integers (float64) as float32 values; exact, since |u| < 2**24 after clipping."""
    return tf.cast(u * 2.0 ** -ACTIVATION_BITS, tf.float32)


def fixed_point_index(u: tf.Tensor, count: int) -> tf.Tensor:
    """Fixed-point integers (float64) rounded half up to table indexes 0..count-1 (int32)."""
    index = tf.floor(u * 2.0 ** -ACTIVATION_BITS + 0.5)
    return tf.cast(tf.clip_by_value(index, 0.0, count - 1.0), tf.int32)
