"""Loads a bls2017 model trained in JAX (scripts/gpu/bls2017_jax.py) into tfcomp's Keras model.

The .npz holds the values tfc's layers compute (kernel, bias, GDN beta/gamma, the deep factorized prior's
variables); each is written back through the layer's own parameterization (RDFT kernels, square-root GDN
parameters), so the imported model is an ordinary BLS2017 that trains, saves and codes like any other.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf
import tensorflow_compression as tfc

from tfcomp.errors import TfcompError
from tfcomp.models.bls2017 import BLS2017
from tfcomp.training.warm_start import assign_kernel


def _prior_variables(model: BLS2017) -> tuple[tuple[str, list[tf.Variable]], ...]:
    # tfc.DeepFactorized exposes its variables only as private lists.
    prior = model.prior.base
    return ("matrix", prior._matrices), ("bias", prior._biases), ("factor", prior._factors)


def _named_convs(model: BLS2017) -> list[tuple[str, tfc.SignalConv2D]]:
    # Names as the JAX trainer writes them: "analysis/layer_0" ... "synthesis/layer_2".
    named = []
    for part, transform in (("analysis", model.analysis_transform), ("synthesis", model.synthesis_transform)):
        convs = [layer for layer in transform.layers if isinstance(layer, tfc.SignalConv2D)]
        named += [(f"{part}/layer_{i}", layer) for i, layer in enumerate(convs)]
    return named


def _set_conv(layer: tfc.SignalConv2D, values: dict[str, np.ndarray], prefix: str) -> None:
    kernel = np.asarray(values[f"{prefix}/kernel"], np.float32)
    if tuple(layer.kernel.shape) != kernel.shape:
        raise TfcompError(f"{prefix}/kernel has shape {kernel.shape}, the model expects {tuple(layer.kernel.shape)}")
    assign_kernel(layer, kernel)
    if layer.use_bias:
        layer.bias_parameter.assign(values[f"{prefix}/bias"])
    if isinstance(layer.activation, tfc.GDN):
        gdn = layer.activation
        for name, minimum in (("beta", 1e-6), ("gamma", 0.0)):
            parameter = tfc.GDNParameter(tf.constant(values[f"{prefix}/{name}"], tf.float32), minimum=minimum)
            getattr(gdn, f"{name}_parameter").variable.assign(parameter.variable)


def load_jax_values(model: BLS2017, values: dict[str, np.ndarray]) -> None:
    """Writes the JAX-trained values into the model's transforms and prior."""
    expected = {f"{prefix}/kernel" for prefix, _ in _named_convs(model)}
    found = {name for name in values if name.endswith("/kernel")}
    if expected != found:
        raise TfcompError(f"the weights do not fit {model.family} (layers {sorted(found ^ expected)} differ): "
                          f"check the decoder")
    for prefix, layer in _named_convs(model):
        _set_conv(layer, values, prefix)
    for kind, variables in _prior_variables(model):
        for i, variable in enumerate(variables):
            variable.assign(values[f"prior/{kind}_{i}"])


def model_values(model: BLS2017) -> dict[str, np.ndarray]:
    """The model's values in the .npz layout the JAX trainer writes (the inverse of load_jax_values)."""
    values = {}
    for prefix, layer in _named_convs(model):
        values[f"{prefix}/kernel"] = layer.kernel.numpy()
        if layer.use_bias:
            values[f"{prefix}/bias"] = layer.bias.numpy()
        if isinstance(layer.activation, tfc.GDN):
            values[f"{prefix}/beta"] = layer.activation.beta.numpy()
            values[f"{prefix}/gamma"] = layer.activation.gamma.numpy()
    for kind, variables in _prior_variables(model):
        for i, variable in enumerate(variables):
            values[f"prior/{kind}_{i}"] = variable.numpy()
    return values


def import_jax_model(npz_path: str, lmbda: float, num_filters: int, decoder: str) -> BLS2017:
    """A BLS2017 Keras model holding the weights of a JAX-trained .npz."""
    with np.load(npz_path) as data:
        values = {name: data[name] for name in data.files}
    model = BLS2017(lmbda=lmbda, num_filters=num_filters, decoder=decoder)
    load_jax_values(model, values)
    return model
