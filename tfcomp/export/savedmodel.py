"""SavedModels for serving.

- codec: `compress` / `decompress` signatures around a shipped model's coding functions. They contain
  tfc's range-coding ops, so loading needs `import tensorflow_compression` (TF Serving needs those ops
  linked in).
- transforms: `analysis` (image -> integer symbols) and `synthesis` (symbols -> image) with stock
  TensorFlow ops only, for stock TF Serving; the client does the entropy coding.

Signature inputs have fixed dtypes and dynamic height/width; string outputs end in `_bytes` so the TF
Serving REST API base64-encodes them.
"""
from __future__ import annotations

import os
import shutil

import tensorflow as tf

from tfcomp.errors import TfcompError
from tfcomp.export import SAVEDMODEL_KINDS as KINDS

IMAGE = tf.TensorSpec((None, None, 3), tf.uint8, name="image")
IMAGE_SHAPE = tf.TensorSpec((2,), tf.int32, name="image_shape")
LATENT_SHAPES = tf.TensorSpec((None, 2), tf.int32, name="latent_shapes")
STRINGS = tf.TensorSpec((None,), tf.string, name="strings_bytes")


def _save(module: tf.Module, out_dir: str, signatures: dict) -> None:
    """Saves atomically: a half-written export never replaces a good one."""
    staging = out_dir.rstrip("/") + ".saving"
    shutil.rmtree(staging, ignore_errors=True)
    tf.saved_model.save(module, staging, signatures=signatures)
    shutil.rmtree(out_dir, ignore_errors=True)
    os.replace(staging, out_dir)


def export_codec(path: str, out_dir: str, width_index: int | None = None) -> dict:
    """The full codec of a shipped model (one width of a slimmable one) with serving signatures."""
    from tfcomp.codecs.learned import LearnedCodec

    # The codec checks the width index, loads the SavedModel (tfc's ops registered) and checks its tables.
    codec = LearnedCodec(path, width_index)
    extra = () if codec.width_index is None else (tf.constant(codec.width_index, tf.int32),)
    module = tf.Module()
    module.codec = codec.model

    @tf.function(input_signature=[IMAGE])
    def compress(image):
        strings, latent_shapes = module.codec.compress(image, *extra)
        return {"strings_bytes": strings, "latent_shapes": latent_shapes, "image_shape": tf.shape(image)[:2]}

    @tf.function(input_signature=[STRINGS, IMAGE_SHAPE, LATENT_SHAPES])
    def decompress(strings_bytes, image_shape, latent_shapes):
        return {"image": module.codec.decompress(strings_bytes, image_shape, latent_shapes, *extra)}

    module.compress, module.decompress = compress, decompress
    _save(module, out_dir, {"compress": compress, "decompress": decompress, "serving_default": decompress})
    return {"kind": "codec", "model": codec.model_name, "width_index": codec.width_index,
            "signatures": ["compress", "decompress"], "needs": "import tensorflow_compression"}


def export_transforms(path: str, out_dir: str, width_index: int | None = None) -> dict:
    """Analysis and synthesis of a shipped model with stock ops only (symbols are int32)."""
    from tfcomp.export.tflite_export import ExportedModel

    exported = ExportedModel(path, width_index)
    channels = exported.layers[0].kernel.shape[2]
    symbols_spec = tf.TensorSpec((1, None, None, channels), tf.int32, name="symbols")
    module = tf.Module()
    # Analysis runs tfc's layers, whose graph is made of stock ops (convolutions, GDN arithmetic);
    # the synthesis is the plain-Keras decoder the TFLite files come from.
    module.analysis_transform = exported.model.analysis_transform
    module.synthesis_transform = exported.plain()
    module.offset = tf.constant(exported.offset)

    @tf.function(input_signature=[IMAGE])
    def analysis(image):
        y = exported.analysis(tf.cast(image[None], tf.float32))
        return {"symbols": tf.cast(tf.round(y - module.offset), tf.int32)}

    @tf.function(input_signature=[symbols_spec, IMAGE_SHAPE])
    def synthesis(symbols, image_shape):
        x_hat = module.synthesis_transform(tf.cast(symbols, tf.float32))
        return {"image": tf.saturate_cast(tf.round(x_hat[0, :image_shape[0], :image_shape[1], :]), tf.uint8)}

    module.analysis, module.synthesis = analysis, synthesis
    _save(module, out_dir, {"analysis": analysis, "synthesis": synthesis, "serving_default": synthesis})
    return {"kind": "transforms", "model": exported.metadata["name"], "width_index": exported.width_index,
            "signatures": ["analysis", "synthesis"], "needs": "tensorflow only"}


def export(kind: str, path: str, out_dir: str, width_index: int | None = None) -> dict:
    """Exports one kind of serving SavedModel (see KINDS)."""
    if kind not in KINDS:
        raise TfcompError(f"unknown SavedModel kind {kind!r}; choose from {', '.join(KINDS)}")
    return (export_codec if kind == "codec" else export_transforms)(path, out_dir, width_index)
