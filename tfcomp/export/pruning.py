"""Decoder pruning: TFMOT magnitude pruning (unstructured or 2:4) of the plain decoder's convolutions, and
channel pruning that removes hidden channels outright (a smaller, faster decoder).

Both act on the plain decoder (tfcomp.export.plain_decoder): TFMOT cannot wrap tfc's SignalConv2D, and
its RDFT kernel parameterization would make zeroed coefficients dense again in space (DEPLOYMENT.md).
"""
from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf
import tensorflow_model_optimization as tfmot

from tfcomp.export.plain_decoder import DecoderLayer


def _is_main_conv(layer: tf.keras.layers.Layer) -> bool:
    """The sub-pixel convolutions (layer_i) carry nearly all weights; the IGDN 1x1 convolutions stay dense."""
    return isinstance(layer, tf.keras.layers.Conv2D) and layer.name.startswith("layer_")


def with_magnitude_pruning(decoder: tf.keras.Model, sparsity: float | None = None,
                           m_by_n: tuple[int, int] | None = None, begin: int = 0,
                           end: int | None = None) -> tf.keras.Model:
    """A copy of the decoder whose convolutions TFMOT prunes while it trains: `sparsity` of the weights a
    transposed convolution has (the sub-pixel kernel's structural zeros count towards it), reached by a
    polynomial schedule between steps `begin` and `end`; or an m:n structure (2:4) along input channels."""
    if (sparsity is None) == (m_by_n is None):
        raise ValueError("give exactly one of sparsity and m_by_n")
    sparsity_api = tfmot.sparsity.keras

    def options(layer: tf.keras.layers.Layer) -> dict:
        if m_by_n is not None:
            return {"sparsity_m_by_n": m_by_n, "pruning_schedule": sparsity_api.ConstantSparsity(0.5, begin)}
        dense = np.count_nonzero(layer.kernel.numpy()) / layer.kernel.shape.num_elements()
        target = 1.0 - (1.0 - sparsity) * dense
        return {"pruning_schedule": sparsity_api.PolynomialDecay(0.0, target, begin, end or begin + 1, frequency=10)}

    def wrap(layer: tf.keras.layers.Layer) -> tf.keras.layers.Layer:
        return sparsity_api.prune_low_magnitude(layer, **options(layer)) if _is_main_conv(layer) else layer

    pruned = tf.keras.models.clone_model(decoder, clone_function=wrap)
    # Wrapped layers keep the original layer (and its weights); other layers are fresh copies.
    for layer in pruned.layers:
        if not _is_main_conv(getattr(layer, "layer", layer)) and layer.weights:
            layer.set_weights(decoder.get_layer(layer.name).get_weights())
    return pruned


def strip(pruned: tf.keras.Model) -> tf.keras.Model:
    """The trained pruned decoder as plain layers again (zeros stay in the kernels)."""
    return tfmot.sparsity.keras.strip_pruning(pruned)


def nonzero_weights(decoder: tf.keras.Model) -> int:
    """Non-zero weights of the decoder (kernels, biases, IGDN): the parameters a sparse format stores."""
    return int(sum(np.count_nonzero(w) for w in decoder.get_weights()))


def channel_scores(layers: list[DecoderLayer], index: int) -> np.ndarray:
    """Importance of each output channel of hidden layer `index`: the norm of the weights that write it
    times the norm of the next layer's weights that read it."""
    writes = np.linalg.norm(layers[index].kernel.reshape(-1, layers[index].kernel.shape[3]), axis=0)
    following = layers[index + 1].kernel
    reads = np.linalg.norm(np.moveaxis(following, 2, 0).reshape(following.shape[2], -1), axis=1)
    return writes * reads


def prune_channels(layers: list[DecoderLayer], keep: int) -> list[DecoderLayer]:
    """The decoder with only the `keep` most important channels of every hidden layer (the latent input
    and the RGB output keep theirs): kernels, biases and IGDN parameters are sliced consistently."""
    result = list(layers)
    for i in range(len(layers) - 1):
        kept = np.sort(np.argsort(-channel_scores(result, i))[:keep])
        layer = result[i]
        igdn = None
        if layer.igdn is not None:
            gamma, beta = layer.igdn
            igdn = (gamma[np.ix_(kept, kept)], beta[kept])
        result[i] = dataclasses.replace(layer, kernel=layer.kernel[..., kept], bias=layer.bias[kept], igdn=igdn)
        result[i + 1] = dataclasses.replace(result[i + 1], kernel=result[i + 1].kernel[:, :, kept, :])
    return result
