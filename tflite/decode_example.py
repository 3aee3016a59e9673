#!/usr/bin/env python
"""Decodes a .tfc file the way an app does: container header -> range decoding with the tables from the
model's JSON -> the .tflite decoder -> crop, round, clamp. It reads no SavedModel: everything comes from
NAME.json and NAME.<mode>.tflite, so it is the recipe a mobile app follows (with tfc's C++ range
decoder, tensorflow_compression/cc/lib/range_coder.cc, compiled into the app).

    python tflite/decode_example.py photo.tfc out.png [--mode float32] [--dir tflite]
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np
import tensorflow as tf
from PIL import Image
from tensorflow_compression.python.ops import gen_ops

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tfcomp.codecs import container  # noqa: E402  (the header parser; docs/FORMAT.md specifies it)
from tfcomp.export.tflite import Decoder  # noqa: E402  (resizes the input, applies the int8 quantization)
from tfcomp.models.common import table_hash  # noqa: E402  (sha256 of the tables, as file headers hold it)


def range_decode(string: bytes, latent_shape: tuple[int, int], entropy: dict) -> np.ndarray:
    """Integer symbols (1, h, w, C) of one coded part, from the JSON's range-coding tables."""
    channels = len(entropy["cdf_offset"])
    handle = gen_ops.create_range_decoder([string], tf.constant(entropy["cdf"], tf.int32))
    handle, indexes = gen_ops.entropy_decode_channel(handle, [*latent_shape, channels], tf.int32)
    if not gen_ops.entropy_decode_finalize(handle).numpy():
        raise ValueError("range decoding failed (corrupt string)")
    return indexes.numpy() + np.asarray(entropy["cdf_offset"])  # strings [1] -> (1, h, w, C)


def decode(path: str, model_dir: str, mode: str) -> np.ndarray:
    """The decoded image (H, W, 3) uint8 of a .tfc file."""
    with open(path, "rb") as f:
        c = container.unpack(f.read())
    name = c.model
    with open(os.path.join(model_dir, f"{name}.json")) as f:
        manifest = json.load(f)
    if len(c.strings) != 1:
        raise ValueError(f"{name} codes {len(c.strings)} parts (a hyperprior model): this recipe covers "
                         "factorized-prior models only")
    if manifest.get("width_index") not in (None, c.variant):
        raise ValueError(f"file was coded at width index {c.variant}, this decoder is {manifest['name']}")
    tables = np.concatenate([manifest["entropy"]["cdf"], manifest["entropy"]["cdf_offset"]])
    if c.table_hash != bytes.fromhex(table_hash(tables))[:container.HASH_BYTES]:
        raise ValueError("the file's entropy-table hash does not match this decoder's tables")
    symbols = range_decode(c.strings[0], c.latent_shapes[0], manifest["entropy"])
    with open(os.path.join(model_dir, manifest["files"][mode]["file"]), "rb") as f:
        pixels = Decoder(f.read())(symbols)
    return np.clip(np.round(pixels[0, :c.height, :c.width]), 0, 255).astype(np.uint8)


def main() -> int:
    """Command line: FILE.tfc OUT.png."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("file")
    parser.add_argument("out")
    parser.add_argument("--mode", default="float32", choices=("float32", "float16", "dynamic-int8", "int8"))
    parser.add_argument("--dir", default=os.path.dirname(os.path.abspath(__file__)),
                        help="folder with NAME.json and NAME.<mode>.tflite (default: this folder)")
    args = parser.parse_args()
    Image.fromarray(decode(args.file, args.dir, args.mode)).save(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
