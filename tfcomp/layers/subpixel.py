"""Transposed convolutions as ordinary ones: tfc.SignalConv2D's upsampling (padding "same_zeros") re-expressed
as one convolution per output phase, concatenated for depth_to_space (the sub-pixel form).

The numpy functions build fixed kernels (TFLite and plain-Keras exports, tfcomp/export/plain_decoder.py);
`upsample` does the same in the graph from a live kernel tensor, for decoders that want the speed without
giving up their variables: TensorFlow's CPU Conv2DBackpropInput scatters its output through col2im, which
costs about the same at any channel count, while an ordinary convolution's cost follows the channels.
"""
from __future__ import annotations

import functools
import math

import numpy as np
import tensorflow as tf


def phase_offsets(size: int, stride: int, phase: int) -> tuple[int, int]:
    """(first, last) input offset j that output phase r of a transposed convolution reads.

    Output sample n = stride * q + r of the transposed convolution (kernel size k, same_zeros) reads input
    q - j through kernel tap stride * j + r + k // 2, for every j that keeps the tap inside the kernel."""
    top = size // 2
    return math.ceil(-(phase + top) / stride), (size - 1 - phase - top) // stride


def subpixel_kernel(kernel: np.ndarray, stride: int) -> tuple[np.ndarray, tuple[int, int]]:
    """A transposed convolution (tfc layout (k, k, in, out), same_zeros, upsampling by `stride`) as an
    ordinary convolution with stride**2 * out channels for depth_to_space, and its (before, after) padding:
    each phase r (see phase_offsets) is one group of output channels of a small convolution over the input."""
    size, inputs, outputs = kernel.shape[0], kernel.shape[2], kernel.shape[3]
    offsets = [phase_offsets(size, stride, r) for r in range(stride)]
    first, last = min(f for f, _ in offsets), max(t for _, t in offsets)
    taps = last - first + 1
    weights = np.zeros((taps, taps, inputs, stride, stride, outputs), np.float32)
    for u_y, u_x in np.ndindex(taps, taps):
        for r_y, r_x in np.ndindex(stride, stride):
            i_y, i_x = stride * (last - u_y) + r_y + size // 2, stride * (last - u_x) + r_x + size // 2
            if 0 <= i_y < size and 0 <= i_x < size:
                weights[u_y, u_x, :, r_y, r_x, :] = kernel[i_y, i_x]
    return weights.reshape(taps, taps, inputs, stride * stride * outputs), (last, -first)


def phase_kernels(kernel: np.ndarray, stride: int) -> list[tuple[np.ndarray, tuple[tuple[int, int], tuple[int, int]]]]:
    """The transposed convolution as one convolution per output phase (r_y, r_x), in depth_to_space's
    channel order: each phase's kernel holds only the taps it reads, with its ((top, bottom), (left, right))
    input padding for a 'valid' convolution. A phase whose taps all lie on one side of the input sample
    (a small kernel with a large stride, e.g. 5x5 upsampling by 4) keeps zero taps up to offset 0, since
    padding cannot be negative."""
    size = kernel.shape[0]
    padded = np.pad(kernel.astype(np.float32), ((size, size), (size, size), (0, 0), (0, 0)))
    phases = []
    for r_y, r_x in np.ndindex(stride, stride):
        (first_y, last_y), (first_x, last_x) = phase_offsets(size, stride, r_y), phase_offsets(size, stride, r_x)
        first_y, last_y, first_x, last_x = min(first_y, 0), max(last_y, 0), min(first_x, 0), max(last_x, 0)
        rows = [size + stride * j + r_y + size // 2 for j in range(last_y, first_y - 1, -1)]
        columns = [size + stride * j + r_x + size // 2 for j in range(last_x, first_x - 1, -1)]
        phases.append((padded[np.ix_(rows, columns)], ((last_y, -first_y), (last_x, -first_x))))
    return phases


@functools.lru_cache(maxsize=None)
def _tap_selection(size: int, stride: int) -> tuple[np.ndarray, tuple[int, int]]:
    """0/1 array (taps, taps, size * size, stride**2): which kernel tap each phase reads at each sub-pixel
    tap (subpixel_kernel applied to a one-hot kernel), and the input padding (before, after)."""
    one_hot = np.eye(size * size, dtype=np.float32).reshape(size, size, size * size, 1)
    return subpixel_kernel(one_hot, stride)


def upsample(inputs: tf.Tensor, kernel: tf.Tensor, stride: int) -> tf.Tensor:
    """tfc.SignalConv2D(corr=False, strides_up=stride, padding="same_zeros") without its bias, for a kernel
    tensor (k, k, in, out): one ordinary convolution to stride**2 phases of `out` channels, depth_to_space."""
    size, inputs_, outputs = kernel.shape[0], kernel.shape[2], kernel.shape[3]
    selection, (before, after) = _tap_selection(size, stride)
    taps = selection.shape[0]
    weights = tf.einsum("abqr,qco->abcro", selection, tf.reshape(kernel, (size * size, inputs_, outputs)))
    weights = tf.reshape(weights, (taps, taps, inputs_, stride * stride * outputs))
    padded = tf.pad(inputs, [[0, 0], [before, after], [before, after], [0, 0]])
    return tf.nn.depth_to_space(tf.nn.conv2d(padded, weights, 1, "VALID"), stride)
