"""Exports a shipped model's decoder (one width of a slimmable model) as .tflite files in every mode,
with the JSON an app needs beside them: latent shape rule, input/output quantization, operator lists
with delegate checks, the model name and entropy-table hash, and the entropy model's range-coding tables.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os

import numpy as np
import tensorflow as tf
import tensorflow_compression  # noqa: F401  (the rebuilt model's layers and entropy models)

from tfcomp import zoo
from tfcomp.codecs.learned import LearnedCodec
from tfcomp.data.images import list_images, read_image
from tfcomp.data.locations import dataset_dir
from tfcomp.errors import TfcompError
from tfcomp.export import delegates, plain_decoder, portable, tflite
from tfcomp.models.common import table_hash
from tfcomp.samples import SAMPLE_IMAGE
from tfcomp.training.saving import load_keras_model

CALIBRATION_ENV = "TFCOMP_CALIBRATION"
CALIBRATION_IMAGES = 16
TFC_VERSION = importlib.metadata.version("tensorflow-compression")


def calibration_dir() -> str:
    """$TFCOMP_CALIBRATION, else BSDS500's validation images beside the repository (never Kodak)."""
    return dataset_dir(CALIBRATION_ENV, "bsds500", "val")


def calibration_images(limit: int = CALIBRATION_IMAGES) -> list[str]:
    """Images whose latents calibrate full-integer models; the bundled sample where none are found."""
    found = list_images(calibration_dir()) if os.path.isdir(calibration_dir()) else []
    return found[:limit] or [SAMPLE_IMAGE]


class ExportedModel:
    """A shipped model rebuilt in Keras with its coding tables, checked against its metadata."""

    def __init__(self, path: str, width_index: int | None = None):
        # The codec checks the width index and names the rate point, as for compressing.
        codec = LearnedCodec(path, width_index)
        # A variable-rate model exports once for all its qualities: its name carries no '-q' suffix.
        self.metadata, self.width_index = codec.metadata, codec.width_index
        self.name = codec.model_name if codec.quality is not None else codec.name
        self.model = load_keras_model(path)
        self.model.enable_coding()
        if table_hash(self.model.entropy_tables().numpy()) != self.metadata["entropy_table_sha256"]:
            raise TfcompError(f"{path}: rebuilt entropy tables differ from the shipped model's")
        self.width = None if self.width_index is None else self.model.widths[self.width_index]
        self.layers = plain_decoder.decoder_layers(self.model, self.width_index)
        self.offset = plain_decoder.quantization_offset(self.model, self.layers[0].kernel.shape[2], self.width_index)

    def analysis(self, x: tf.Tensor) -> tf.Tensor:
        """The model's analysis transform (at this width) on a batch of images in 0..255."""
        return self.model.analysis_transform(x) if self.width is None else self.model.analysis_transform(x, self.width)

    def symbols(self, image: np.ndarray) -> np.ndarray:
        """The integer symbols the range decoder returns for an image, as float32 (1, h, w, C)."""
        # The model's own coding function, so the symbols are exactly those `tfcomp compress` codes.
        width = () if self.width_index is None else (tf.constant(self.width_index, tf.int32),)
        y = self.model.analyze(image, *width).numpy()
        return np.round(y - self.offset).astype(np.float32)

    def reference(self, symbols: np.ndarray) -> np.ndarray:
        """The model's own (tfc) synthesis of the symbols, float pixels (1, H, W, 3) clamped to 0..255."""
        y_hat = tf.constant(symbols + self.offset)
        x_hat = self.model.synthesis_transform(y_hat) if self.width is None else \
            self.model.synthesis_transform(y_hat, self.width)
        return np.clip(x_hat.numpy(), 0.0, 255.0)

    def plain(self, latent_shape: tuple[int | None, int | None] = (None, None),
              split_phases: bool = False) -> tf.keras.Model:
        """The plain-Keras decoder of these weights (split_phases: see plain_decoder.plain_synthesis)."""
        return plain_decoder.plain_synthesis(self.layers, self.offset, latent_shape, name=self.name.replace("-", "_"),
                                             split_phases=split_phases)

    def entropy_tables(self) -> dict:
        """The latent entropy model's range-coding tables, as the app's range decoder needs them."""
        entropy_model = plain_decoder.latent_entropy_model(self.model, self.width_index)
        tables = {
            "coder": f"tensorflow_compression {TFC_VERSION} range coder "
                     "(CreateRangeDecoder + EntropyDecodeChannel; cc/lib/range_coder.cc)",
            "precision": int(entropy_model.range_coder_precision),
            "cdf": entropy_model.cdf.numpy().astype(int).tolist(),
            "cdf_offset": entropy_model.cdf_offset.numpy().astype(int).tolist(),
            "symbol_rule": "symbol = decoded index + cdf_offset[channel]; feed symbols, the model adds "
                           "quantization_offset itself",
            "quantization_offset": self.offset.tolist(),
        }
        if self.metadata["architecture"] in ("bmshj2018", "ms2020vr"):
            tables["symbol_rule"] = ("symbol = decoded index + cdf_offset[scale index]; the scale index of each "
                                     "latent comes from the fixed-point networks (decoder section, docs/FORMAT.md)")
            tables["note"] = ("hyperprior: these are the Gaussian conditional's tables, one per scale index; the side "
                              "information z has its own tables in decoder.side_entropy")
        return tables

    @property
    def variable_rate(self) -> bool:
        """Whether the model codes at a quality (its synthesis then reads gained, non-integer latents)."""
        return self.metadata.get("qualities") is not None


def convert_modes(exported: ExportedModel, modes: tuple[str, ...] = tflite.MODES, images: list[str] | None = None,
                  latent_shape: tuple[int | None, int | None] = (None, None)) -> dict[str, tuple[bytes, dict]]:
    """The exported model's decoder as (flatbuffer, how it was made) per mode; int8 is calibrated on the
    images' latents, int8-qat also fine-tuned on training crops (tfcomp.export.qat). Modes with float
    activations get the split-phase decoder, full-integer ones the sub-pixel one (plain_decoder)."""
    decoders = {split: exported.plain(latent_shape, split_phases=split)
                for split in {mode in tflite.FLOAT_ACTIVATION_MODES for mode in modes if mode != "int8-qat"}}
    integer = {"int8", "int8-qat"} & set(modes)
    calibration = [exported.symbols(read_image(p)[0]) for p in images] if integer else []
    converted = {}
    for mode in modes:
        if mode == "int8-qat":
            from tfcomp.export import qat  # TFMOT: imported only when asked for

            converted[mode] = qat.quantize_exported(exported, calibration, latent_shape=latent_shape)
        else:
            decoder = decoders[mode in tflite.FLOAT_ACTIVATION_MODES]
            converted[mode] = (tflite.convert(decoder, mode, calibration), {})
    return converted


def export(path: str, out_dir: str, width_index: int | None = None, modes: tuple[str, ...] = tflite.MODES,
           images: list[str] | None = None, latent_shape: tuple[int | None, int | None] = (None, None)) -> dict:
    """Writes NAME.<mode>.tflite for each mode and NAME.json; returns that JSON's content."""
    return write(ExportedModel(path, width_index), out_dir, modes, images, latent_shape)


def write(exported: ExportedModel, out_dir: str, modes: tuple[str, ...] = tflite.MODES,
          images: list[str] | None = None, latent_shape: tuple[int | None, int | None] = (None, None)) -> dict:
    """export() for a model already rebuilt."""
    if exported.variable_rate and {"int8", "int8-qat"} & set(modes):
        # The synthesis of a variable-rate model reads y_hat times the quality's inverse gain, not integers.
        modes = tuple(m for m in modes if m in tflite.FLOAT_ACTIVATION_MODES)
        if not modes:
            float_modes = ", ".join(tflite.FLOAT_ACTIVATION_MODES)
            raise TfcompError(f"{exported.name}: full-integer modes need integer symbols; a variable-rate model's "
                              f"synthesis reads gained latents (choose from {float_modes})")
    images = images or calibration_images()
    # Everything is converted before anything is written: a failed mode leaves no partial export.
    flatbuffers = convert_modes(exported, modes, images, latent_shape)
    os.makedirs(out_dir, exist_ok=True)
    files = {}
    for mode, (flatbuffer, made) in flatbuffers.items():
        file_name = f"{exported.name}.{mode}.tflite"
        with open(os.path.join(out_dir, file_name), "wb") as f:
            f.write(flatbuffer)
        operators = tflite.operators(flatbuffer)
        files[mode] = {
            "file": file_name,
            "bytes": len(flatbuffer),
            "sha256": hashlib.sha256(flatbuffer).hexdigest(),
            "operators": [f"{name} v{version}" for name, version in operators],
            "delegates": delegates.check(operators, integer=mode.startswith("int8")),
            **tflite.io_details(flatbuffer),
            **({"quantization_aware_training": made} if made else {}),
        }
    manifest = {
        "model": exported.metadata["name"],
        "version": zoo.version(exported.metadata),
        "name": exported.name,
        "width_index": exported.width_index,
        "entropy_table_sha256": exported.metadata["entropy_table_sha256"],
        "latents": {
            "channels": int(exported.layers[0].kernel.shape[2]),
            "shape_rule": "for an H x W image: h = ceil(H / 16), w = ceil(W / 16); input (1, h, w, channels); "
                          "output (1, 16h, 16w, 3): crop it to H x W",
            "calibration_images": [os.path.basename(p) for p in images]
            if {"int8", "int8-qat"} & set(modes) else [],
        },
        "output": "RGB pixels: float modes give 0..255 floats (round them); int8 gives q, "
                  "pixel = (q - zero_point) * scale from files.int8.output.quantization",
        "entropy": exported.entropy_tables(),
        "decoder": portable.decoder_section(exported.model, exported.name, out_dir, exported.width_index),
        "files": files,
        "converter": {"tensorflow": tf.__version__, "tensorflow_compression": TFC_VERSION},
    }
    with open(os.path.join(out_dir, f"{exported.name}.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    return manifest


def refresh(path: str, out_dir: str, width_index: int | None = None) -> dict:
    """Rewrites an existing NAME.json's tables, table hash and decoder section (and NAME.fixed.bin) from the
    model, keeping its .tflite files: for a model whose coding tables or parameter networks changed and whose
    synthesis did not. The float32 file is converted again and must equal the one on record."""
    exported = ExportedModel(path, width_index)
    manifest_path = os.path.join(out_dir, f"{exported.name}.json")
    if not os.path.exists(manifest_path):
        raise TfcompError(f"{manifest_path}: nothing to refresh (export the model first)")
    with open(manifest_path) as f:
        manifest = json.load(f)
    for entry in manifest["files"].values():
        with open(os.path.join(out_dir, entry["file"]), "rb") as f:
            if hashlib.sha256(f.read()).hexdigest() != entry["sha256"]:
                raise TfcompError(f"{entry['file']}: differs from its manifest entry")
    if "float32" not in manifest["files"]:
        raise TfcompError(f"{manifest_path}: refreshing needs the float32 file to check the synthesis against")
    flatbuffer = tflite.convert(exported.plain(split_phases=True), "float32")
    if hashlib.sha256(flatbuffer).hexdigest() != manifest["files"]["float32"]["sha256"]:
        raise TfcompError(f"{exported.name}: the synthesis changed; export the model again instead of refreshing")
    manifest.update(model=exported.metadata["name"], version=zoo.version(exported.metadata),
                    entropy_table_sha256=exported.metadata["entropy_table_sha256"],
                    entropy=exported.entropy_tables(),
                    decoder=portable.decoder_section(exported.model, exported.name, out_dir, exported.width_index))
    with open(manifest_path, "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    return manifest
