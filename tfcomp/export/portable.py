"""What the portable decoder (tflite/tfcdecode.py) needs beside the TFLite synthesis, in the layout
docs/FORMAT.md specifies: every range-coding table of a model (width), and for hyperprior models the
fixed-point parameter networks (NAME.fixed.bin, float32 weights the decoder turns into integers) and, for a
variable-rate model, its inverse gains.
"""
from __future__ import annotations

import hashlib
import os

import numpy as np

from tfcomp.errors import TfcompError
from tfcomp.export import plain_decoder

FORMAT = "tfcomp portable decoder 1"


def tables(entropy_model, quantization_offset: np.ndarray | None = None) -> dict:
    """An entropy model's range-coding tables: the flat lookup vector (one row per distribution: -precision,
    then the CDF) and each row's offset, plus the per-channel float offset a batched model adds."""
    offset = getattr(entropy_model, "quantization_offset", None) if quantization_offset is None else quantization_offset
    return {
        "precision": int(entropy_model.range_coder_precision),
        "cdf": entropy_model.cdf.numpy().astype(int).tolist(),
        "cdf_offset": entropy_model.cdf_offset.numpy().astype(int).tolist(),
        "quantization_offset": None if offset is None else np.asarray(offset, np.float32).ravel().tolist(),
    }


def _network_layers(network, blob: list[bytes], position: int) -> tuple[list[dict], int]:
    """An ExactNetwork's layers as manifest entries; appends their float32 weights to blob."""
    layers = []
    for conv in network.convs:
        kernel = conv.kernel.numpy().astype("<f4")
        bias = conv.bias.numpy().astype("<f4")
        if kernel.shape[0] != kernel.shape[1] or kernel.shape[0] % 2 == 0:
            raise TfcompError(f"{conv.name}: only odd square kernels are specified for the portable decoder")
        layers.append({"kernel_shape": list(kernel.shape), "kernel_offset": position,
                       "bias_offset": position + kernel.nbytes, "upsample": int(conv.upsample),
                       "relu": bool(conv.relu)})
        blob += [kernel.tobytes(), bias.tobytes()]
        position += kernel.nbytes + bias.nbytes
    return layers, position


def _is_exact(network) -> bool:
    from tfcomp.layers.exact import ExactNetwork

    return isinstance(network, ExactNetwork)


def decoder_section(model, name: str, out_dir: str, width_index: int | None = None) -> dict:
    """The manifest's "decoder" entry for a built model with coding enabled (writes NAME.fixed.bin for
    hyperprior models): architecture, side tables, networks and gains, and the sha256 of all of them."""
    architecture = model.architecture
    section: dict = {"format": FORMAT, "architecture": architecture,
                     "latent_strides": [int(s) for s in model.latent_strides]}
    hashed = [np.asarray(t, np.int32) for t in (plain_decoder.latent_entropy_model(model, width_index).cdf,
                                                plain_decoder.latent_entropy_model(model, width_index).cdf_offset)]
    networks: dict[str, list] = {}
    if architecture in ("bls2017", "slimcae"):
        section["portable"] = True
    elif architecture == "bmshj2018":
        section["side_entropy"] = tables(model.side_entropy_model)
        if _is_exact(model.hyper_synthesis_transform):
            section["portable"] = True
            networks["hyper_synthesis"] = [model.hyper_synthesis_transform]
        else:
            section["portable"] = False
            section["reason"] = ("this model computes its scale indexes with a float hyper-synthesis, which is not "
                                 "bit-exact across machines; refit it with the fixed-point one (tfcomp.layers.exact)")
    elif architecture == "ms2020vr":
        section["portable"] = True
        section["side_entropy"] = tables(model.side_entropy_model)
        networks["hyper_synthesis"] = [model.hyper_synthesis_transform]
        networks["slices"] = list(model.slice_transforms.networks)
        section["slice_channels"] = model.num_filters // model.num_slices
        section["log_inverse_gain"] = model.gain_units.log_inverse_gain.numpy().astype(np.float32).tolist()
        section["qualities"] = [1, model.levels]
    else:
        raise TfcompError(f"no portable decoder for architecture {architecture!r}")
    if "side_entropy" in section:
        hashed += [np.asarray(section["side_entropy"][k], np.int32) for k in ("cdf", "cdf_offset")]
    if networks:
        blob, position, specs = [], 0, {}
        for key, nets in networks.items():
            specs[key] = []
            for network in nets:
                layers, position = _network_layers(network, blob, position)
                specs[key].append(layers)
        data = b"".join(blob)
        hashed.append(np.frombuffer(data, "<i4"))
        file_name = f"{name}.fixed.bin"
        with open(os.path.join(out_dir, file_name), "wb") as f:
            f.write(data)
        section["networks"] = {"file": file_name, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(),
                               "hyper_synthesis": specs["hyper_synthesis"][0],
                               **({"slices": specs["slices"]} if "slices" in specs else {})}
    section["tables_sha256"] = hashlib.sha256(b"".join(t.astype("<i4").tobytes() for t in hashed)).hexdigest()
    return section
