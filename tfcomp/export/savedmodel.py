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
QUALITY = tf.TensorSpec((), tf.float32, name="quality")


def _save(module: tf.Module, out_dir: str, signatures: dict) -> None:
    """Saves atomically: a half-written export never replaces a good one."""
    staging = out_dir.rstrip("/") + ".saving"
    shutil.rmtree(staging, ignore_errors=True)
    tf.saved_model.save(module, staging, signatures=signatures)
    shutil.rmtree(out_dir, ignore_errors=True)
    os.replace(staging, out_dir)


def export_codec(path: str, out_dir: str, width_index: int | None = None) -> dict:
    """The full codec of a shipped model (one width of a slimmable one) with serving signatures; a
    variable-rate model's signatures take its quality as one more input."""
    from tfcomp.codecs.learned import LearnedCodec

    # The codec checks the width index, loads the SavedModel (tfc's ops registered) and checks its tables.
    codec = LearnedCodec(path, width_index)
    module = tf.Module()
    module.codec = codec.model
    if codec.quality is not None:
        compress, decompress = _variable_rate_signatures(module, codec.quality_range)
    else:
        compress, decompress = _fixed_rate_signatures(module, codec.width_index)
    module.compress, module.decompress = compress, decompress
    _save(module, out_dir, {"compress": compress, "decompress": decompress, "serving_default": decompress})
    return {"kind": "codec", "model": codec.model_name, "width_index": codec.width_index,
            "signatures": ["compress", "decompress"], "needs": "import tensorflow_compression",
            **({"quality_range": list(codec.quality_range)} if codec.quality is not None else {})}


def _fixed_rate_signatures(module: tf.Module, width_index: int | None) -> tuple:
    """compress(image) and decompress(strings, shapes) of a model with one rate (at one width)."""
    extra = () if width_index is None else (tf.constant(width_index, tf.int32),)

    @tf.function(input_signature=[IMAGE])
    def compress(image):
        strings, latent_shapes = module.codec.compress(image, *extra)
        return {"strings_bytes": strings, "latent_shapes": latent_shapes, "image_shape": tf.shape(image)[:2]}

    @tf.function(input_signature=[STRINGS, IMAGE_SHAPE, LATENT_SHAPES])
    def decompress(strings_bytes, image_shape, latent_shapes):
        return {"image": module.codec.decompress(strings_bytes, image_shape, latent_shapes, *extra)}

    return compress, decompress


def _variable_rate_signatures(module: tf.Module, qualities: tuple[float, float]) -> tuple:
    """compress(image, quality) and decompress(strings, shapes, quality): the client keeps the quality with the
    strings, as the .tfc header does; a quality outside the model's range is an InvalidArgumentError."""
    low, high = (float(q) for q in qualities)

    def checked(quality):
        in_range = tf.logical_and(quality >= low, quality <= high)
        with tf.control_dependencies([tf.debugging.Assert(in_range, [f"quality must be {low:g}..{high:g}", quality])]):
            return tf.identity(quality)

    @tf.function(input_signature=[IMAGE, QUALITY])
    def compress(image, quality):
        strings, latent_shapes = module.codec.compress(image, checked(quality))
        return {"strings_bytes": strings, "latent_shapes": latent_shapes, "image_shape": tf.shape(image)[:2],
                "quality": quality}

    @tf.function(input_signature=[STRINGS, IMAGE_SHAPE, LATENT_SHAPES, QUALITY])
    def decompress(strings_bytes, image_shape, latent_shapes, quality):
        return {"image": module.codec.decompress(strings_bytes, image_shape, latent_shapes, checked(quality))}

    return compress, decompress


def export_transforms(path: str, out_dir: str, width_index: int | None = None) -> dict:
    """Analysis and synthesis of a shipped model with stock ops only (symbols are int32)."""
    from tfcomp.export.tflite_export import ExportedModel

    exported = ExportedModel(path, width_index)
    if exported.variable_rate:
        raise TfcompError(f"{exported.metadata['name']}: a variable-rate model's symbols depend on its quality; "
                          "export the codec kind (--kind codec), whose signatures take the quality")
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
