"""Converts a bmshj2018 model saved with a float hyper-synthesis (tfc transposed convolutions, before exact
coding) to the fixed-point one: each transposed convolution becomes its sub-pixel form (tfcomp/layers/subpixel.py),
the same function in float, so the transforms, priors and rate stay as they were. The converted model has another
table hash (it covers the hyper-synthesis weights) and so the next version (tfcomp/training/saving.py): files of
the old one are refused with one line naming the version they need.

    .venv/bin/python -m tfcomp.training.exact_hyperprior saved_models/bmshj2018-mse-2 [--out DIR]
"""
from __future__ import annotations

import os

import numpy as np
import tensorflow as tf
import tensorflow_compression as tfc


from tfcomp.errors import run_program
from tfcomp.layers.subpixel import subpixel_kernel
from tfcomp.models import bmshj2018
from tfcomp.training.resave import model_arguments, save_again
from tfcomp.training.saving import read_metadata

# (kernel size, upsampling, ReLU) of the float hyper-synthesis layers the shipped models were trained with.
FLOAT_LAYERS = ((5, 2, True), (5, 2, True), (3, 1, False))


class FloatHyperSynthesisBMSHJ2018(bmshj2018.BMSHJ2018):
    """bmshj2018 as saved before exact coding: only its hyper-synthesis differs, so its checkpoint loads."""

    def __init__(self, **config):
        super().__init__(**config)
        filters = self.num_filters
        self.hyper_synthesis_transform = tf.keras.Sequential([
            tfc.SignalConv2D(filters, (k, k), name=f"layer_{i}", corr=False, strides_up=up, padding="same_zeros",
                             use_bias=True, activation=tf.nn.relu if relu else None)
            for i, (k, up, relu) in enumerate(FLOAT_LAYERS)], name="hyper_synthesis")
        self.hyper_synthesis_transform.build((None, None, None, self.num_hyper_filters))


def convert(path: str) -> bmshj2018.BMSHJ2018:
    """The exact-coding model with the weights of the float one at `path`."""
    config = read_metadata(path)["config"]
    old = FloatHyperSynthesisBMSHJ2018(**config)
    old.load_weights(os.path.join(path, "variables", "variables")).expect_partial()
    new = bmshj2018.BMSHJ2018(**config)
    for part in new.PARTS:
        if part != "hyper_synthesis_transform":
            for target, source in zip(getattr(new, part).variables, getattr(old, part).variables, strict=True):
                target.assign(source)
    for conv, layer in zip(new.hyper_synthesis_transform.convs, old.hyper_synthesis_transform.layers, strict=True):
        stride = layer.strides_up[0]
        kernel, padding = subpixel_kernel(layer.kernel.numpy(), stride)
        assert kernel.shape[0] == conv.kernel_size and padding == ((conv.kernel_size - 1) // 2,) * 2
        conv.kernel.assign(kernel)
        # depth_to_space takes channel (phase, filter): the bias repeats once per phase.
        conv.bias.assign(np.tile(layer.bias.numpy(), stride * stride))
    check(old, new)
    return new


def check(old: tf.keras.Model, new: tf.keras.Model) -> None:
    """The converted float path computes what the old hyper-synthesis did (to float rounding)."""
    z = tf.random.stateless_normal((1, 6, 5, old.num_hyper_filters), (1, 2), stddev=4.0)
    before, after = old.hyper_synthesis_transform(z), new.hyper_synthesis_transform(z)
    error = float(tf.reduce_max(abs(before - after)))
    print(f"largest difference of the hyper-synthesis output after conversion: {error:.2e}")
    assert error < 1e-3, error


def main(argv: list[str] | None = None) -> int:
    """Converts, checks and saves with the model's training record (noting the conversion)."""
    model, before, out = model_arguments(__doc__.splitlines()[0], "a saved bmshj2018 model directory", argv)
    training = dict(before["training"], exact_hyper_synthesis="converted from the float hyper-synthesis "
                    f"(tfcomp.training.exact_hyperprior; table hash was {before['entropy_table_sha256'][:16]})")
    after = save_again(convert(model), before, out, training)
    print(f"saved {out}: table hash {after['entropy_table_sha256'][:16]} (was {before['entropy_table_sha256'][:16]})")
    return 0


if __name__ == "__main__":
    run_program(main)
