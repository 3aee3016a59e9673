"""Warm starts: a new model takes a trained model's weights, part by part, wherever names and shapes fit.

The donor may be a weights checkpoint of the same configuration or a shipped model of any registered
architecture, so a lighter decoder can keep a trained encoder and a hyperprior model can keep trained
transforms.
"""
from __future__ import annotations

import json
import os

import numpy as np
import tensorflow as tf
import tensorflow_compression as tfc
import tensorflow_probability as tfp

from tfcomp import registry
from tfcomp.errors import TfcompError
from tfcomp.training.saving import load_keras_model
from tfcomp.zoo import METADATA, read_metadata


def check_source(source: str) -> None:
    """Fails early, with one line, when a warm-start source is neither kind of donor."""
    if not os.path.exists(os.path.join(source, METADATA)) and not tf.io.gfile.exists(source + ".index"):
        raise TfcompError(f"--init-from {source}: neither a weights checkpoint ({source}.index) nor a shipped "
                          f"model directory ({METADATA})")


def donor_model(source: str, architecture: str, model_args: dict) -> tf.keras.Model:
    """The model whose weights are copied: a shipped model directory or a checkpoint of this config."""
    check_source(source)
    if os.path.exists(os.path.join(source, METADATA)):
        return load_keras_model(source)
    # A checkpoint of this configuration, read through a throwaway model: loading it into the new model
    # itself would also restore (once the optimizer exists) the old run's step counter, and the new
    # learning-rate schedule would start at its end.
    donor = registry.model_class(architecture)(**model_args)
    donor.load_weights(source).expect_partial()
    return donor


def copy_weights(donor: tf.keras.Model, model: tf.keras.Model) -> dict[str, str]:
    """Assigns donor variables to same-named, same-shaped ones of each part, widens narrower ones (a donor
    with fewer filters) and resizes same-named convolution kernels that differ only in (odd) spatial size;
    says what was copied."""
    report = {}
    # Only a narrower model of the same layout is widened: elsewhere a smaller same-named variable plays
    # another role (a 2L decoder's 3-channel output bias is not the start of a baseline's 64 biases).
    wider = donor.family == model.family and getattr(donor, "num_filters", 0) < getattr(model, "num_filters", 0)
    for part in model.PARTS:
        target = getattr(model, part)
        source = getattr(donor, part, None)
        available = {v.name: v for v in source.variables} if source is not None else {}
        copied = widened = 0
        for variable in target.variables:
            match = available.get(variable.name)
            if match is not None and match.shape == variable.shape:
                variable.assign(match)
                copied += 1
            elif match is not None and wider and _widen(match, variable):
                widened += 1
        resized = _resize_kernels(source, target) if source is not None else 0
        report[part] = f"{copied}/{len(target.variables)} variables copied" + \
            (f", {widened} widened" if widened else "") + (f", {resized} kernels resized" if resized else "")
    if wider and isinstance(getattr(model, "prior", None), tfc.NoisyDeepFactorized):  # a factorized-prior model
        _switch_off_new_latents(donor, model)
    extended = _extend_levels(donor, model)
    if extended:
        report["gain_units"] += f", {extended} levels extrapolated"
    return report


def _extend_levels(donor: tf.keras.Model, model: tf.keras.Model) -> int:
    """A variable-rate model whose lambdas extend its donor's (same spacing, more levels): the donor's levels
    are copied and the others extrapolated linearly in the log domain from the two nearest, which is how the
    donor itself codes at qualities beyond its range. Returns how many levels were extrapolated."""
    old, new = getattr(donor, "lambdas", None), getattr(model, "lambdas", None)
    if not old or not new or len(new) <= len(old) or not hasattr(model, "gain_units"):
        return 0
    first = next((i for i in range(len(new) - len(old) + 1)
                  if np.allclose(new[i:i + len(old)], old, rtol=1e-6, atol=0.0)), None)
    if first is None:
        return 0
    positions = np.arange(len(new), dtype=np.float32) - first
    for source, target in zip(donor.gain_units.weights, model.gain_units.weights):
        rows = source.numpy()
        lower = np.clip(np.floor(positions), 0, len(old) - 2).astype(int)
        weight = (positions - lower)[:, None]
        target.assign((1.0 - weight) * rows[lower] + weight * rows[lower + 1])
    return len(new) - len(old)


def _switch_off_new_latents(donor: tf.keras.Model, model: tf.keras.Model) -> None:
    """The encoder writes zeros into the new latent channels and their prior is the donor's cheapest channel
    narrowed until it puts all but 2^-8 of its mass inside the zero bin, so a widened model starts at the
    donor's image and rate. A fresh prior cost about 5 bits per new latent (bls2017-mse-2, 0.27 bpp, widened
    to N=192 still trained at 2.8 bpp after 500 steps); the cheapest channel unnarrowed still cost 0.04 bpp
    (bls2017-mse-2) and 0.19 bpp (bls2017-mse-3) at N=192 in zeros; narrowed, a zero costs the range coder's
    floor, about 0.001 bits."""
    old = donor.num_filters
    rdft = model.analysis_transform.layers[-1].kernel_parameter
    for variable in (rdft.real, rdft.imag):
        value = variable.numpy()  # (in, out, frequency rows, columns): zero in RDFT space is a zero kernel
        value[:, old:] = 0.0
        variable.assign(value)
    cheapest = int(tf.argmax(donor.prior.prob(tf.zeros((old,)))))
    for variable in model.prior.trainable_variables:
        value = variable.numpy()
        value[old:] = value[cheapest]
        variable.assign(value)
    _narrow_prior_channels(model.prior, range(old, model.num_filters), ZERO_BIN_TAIL)


# How far from zero a switched-off channel's prior may put its tails (mass 2^-8): well inside the zero bin.
ZERO_BIN_TAIL = 0.2


def _narrow_prior_channels(prior: tfc.NoisyDeepFactorized, channels: range, reach: float) -> None:
    """Compresses the deep factorized density of the given channels along its axis (its first layer's
    weights scaled up) until its 2^-8 tails lie within +-reach."""
    tails = tf.abs(tf.stack([tfc.lower_tail(prior, 2 ** -8), tfc.upper_tail(prior, 2 ** -8)]))
    scale = tf.maximum(1.0, tf.reduce_max(tf.gather(tails, list(channels), axis=1), axis=0) / reach)
    # (channels, filters, 1): softplus of it multiplies the input.
    first_layer = next(v for v in prior.trainable_variables if v.name.endswith("matrix_0:0"))
    value = first_layer.numpy()
    value[list(channels)] = tfp.math.softplus_inverse(
        tf.nn.softplus(value[list(channels)]) * scale[:, None, None]).numpy()
    first_layer.assign(value)


def _widen(donor: tf.Variable, variable: tf.Variable) -> bool:
    """A narrower donor (fewer filters N) fills the leading corner of a wider variable; the rest keeps its
    initial value, except that new input channels of a kernel start at zero, so the wider model computes the
    donor's image exactly and learns to use its new channels. False if the shapes do not nest."""
    have, want = donor.shape, variable.shape
    if have.rank != want.rank or not all(h <= w for h, w in zip(have, want)):
        return False
    value = variable.numpy()
    if variable.name.rsplit("/", 1)[-1].startswith(("kernel_real", "kernel_imag")):
        # RDFT kernels are (in, out, frequency rows, columns): the spatial size must match.
        if have[2:] != want[2:]:
            return False
        value[have[0]:, :have[1]] = 0.0
    value[tuple(slice(0, h) for h in have)] = donor.numpy()
    variable.assign(value)
    return True


def assign_kernel(layer: tfc.SignalConv2D, kernel: tf.Tensor) -> None:
    """Sets a SignalConv2D's kernel through its RDFT parameterization."""
    fresh = tfc.RDFTParameter(tf.convert_to_tensor(kernel, tf.float32))
    layer.kernel_parameter.real.assign(fresh.real)
    layer.kernel_parameter.imag.assign(fresh.imag)


def _resize_kernels(source: tf.Module, target: tf.Module) -> int:
    """Gives same-named SignalConv2D layers of another kernel size the centre of the donor's kernel
    (or the donor's kernel padded with zeros): a 3x3 layer starts near what the 5x5 layer computed."""
    donors = {layer.name: layer for layer in getattr(source, "layers", []) if isinstance(layer, tfc.SignalConv2D)}
    count = 0
    for layer in getattr(target, "layers", []):
        donor = donors.get(layer.name)
        if donor is None or not isinstance(layer, tfc.SignalConv2D):
            continue
        have, want = donor.kernel.shape, layer.kernel.shape
        if have == want or have[2:] != want[2:] or not all(k % 2 for k in (*have[:2], *want[:2])):
            continue
        kernel = donor.kernel
        for axis in (0, 1):
            margin = (have[axis] - want[axis]) // 2
            if margin > 0:
                kernel = tf.gather(kernel, tf.range(margin, margin + want[axis]), axis=axis)
            elif margin < 0:
                pad = [[0, 0]] * 4
                pad[axis] = [-margin, -margin]
                kernel = tf.pad(kernel, pad)
        assign_kernel(layer, kernel)
        count += 1
    return count


def stage_summary(record: dict) -> dict:
    """One training stage as the history of a model lists it."""
    return dict(workdir=record["workdir"], steps=record["steps"], wall_time_s=record["wall_time_s"],
                lmbda=record["model_args"].get("lmbda"), init_from=record.get("init_from"),
                freeze=list(record.get("freeze") or []))


def lineage(source: str | None) -> list[dict]:
    """The training stages behind a warm start's donor, oldest first, so total training cost adds up."""
    if not source:
        return []
    if os.path.exists(os.path.join(source, METADATA)):
        record = read_metadata(source)["training"]
        return record.get("history") or lineage(record.get("init_from")) + [stage_summary(record)]
    # A checkpoint WORKDIR/weights/latest: its run's totals are in WORKDIR/progress.json.
    workdir = os.path.dirname(os.path.dirname(source))
    progress = os.path.join(workdir, "progress.json")
    if not os.path.exists(progress):
        return []
    with open(progress) as f:
        state = json.load(f)
    stage = dict(workdir=workdir, steps=state["steps"], wall_time_s=round(state["wall_time_s"], 1),
                 lmbda=state.get("lmbda"), init_from=state.get("init_from"), freeze=state.get("freeze", []))
    return lineage(state.get("init_from")) + [stage]
