"""The residual autoencoder's model files and int8 decoder: one .npz per configuration (encoder, float
decoder, int8 TFLite decoder, metadata), and one for the denoiser, shared by all configurations.

int8 (`convert_int8`): the decoder is converted by TFLite to full-integer int8 (static quantization:
weights per channel, activations with ranges calibrated on the image set's latents), as the essay's
"static, calibrated on latents" PyTorch quantization. The decoder's bytes in the ratio are then the
.tflite flatbuffer's size. Unlike PyTorch, TFLite quantizes transposed convolutions too, so our int8 size
reduction is closer to 4x than the essay's 3.33x-3.89x.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os

import numpy as np
import tensorflow as tf

from tfcomp.errors import TfcompError
from tfcomp.models.resae import Config, build_decoder, build_encoder
from tfcomp.models.resae_denoiser import build_denoiser


def convert_int8(decoder: tf.keras.Model, config: Config, calibration_latents: np.ndarray) -> bytes:
    """The decoder as a full-integer int8 .tflite flatbuffer (float32 in/out), calibrated on latents."""
    fixed = build_decoder(config, batch_size=1)  # a fixed batch of 1 avoids dynamic-shape ops in TFLite
    fixed.set_weights(decoder.get_weights())
    converter = tf.lite.TFLiteConverter.from_keras_model(fixed)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    samples = [np.asarray(z, np.float32)[None] for z in calibration_latents]
    converter.representative_dataset = lambda: ([s] for s in samples)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    return converter.convert()


class Int8Decoder:
    """Runs an int8 .tflite decoder on latents one tile at a time (the flatbuffer has batch 1)."""

    def __init__(self, flatbuffer: bytes, threads: int = 2):
        self.interpreter = tf.lite.Interpreter(model_content=flatbuffer, num_threads=threads)
        self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]["index"]
        self.output = self.interpreter.get_output_details()[0]["index"]

    def __call__(self, latents: np.ndarray) -> np.ndarray:
        """Latents (T, latent_dim) -> float images (T, S, S, 3) in [0, 1]."""
        out = []
        for z in np.asarray(latents, np.float32):
            self.interpreter.set_tensor(self.input, z[None])
            self.interpreter.invoke()
            out.append(self.interpreter.get_tensor(self.output)[0].copy())
        return np.stack(out)


def _digest(arrays: list[np.ndarray], extra: bytes = b"") -> bytes:
    digest = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(array.astype(array.dtype.newbyteorder("<")).tobytes())
    digest.update(extra)
    return digest.digest()


def save_autoencoder(path: str, config: Config, encoder: tf.keras.Model, decoder: tf.keras.Model,
                     int8: bytes | None, metadata: dict) -> dict:
    """Writes the encoder, float decoder, int8 flatbuffer and metadata to one .npz atomically."""
    enc, dec = encoder.get_weights(), decoder.get_weights()
    metadata = dict(metadata, architecture="resae", config=dataclasses.asdict(config),
                    parameters=dict(encoder=int(sum(w.size for w in enc)), decoder=int(sum(w.size for w in dec))),
                    decoder_bytes=dict(float32=int(sum(4 * w.size for w in dec)), int8=len(int8) if int8 else None))
    arrays = {f"enc{i:02d}": w for i, w in enumerate(enc)}
    arrays.update({f"dec{i:02d}": w for i, w in enumerate(dec)})
    if int8:
        arrays["int8"] = np.frombuffer(int8, np.uint8)
    tmp = path + ".tmp.npz"
    np.savez(tmp, metadata=json.dumps(metadata), **arrays)  # uncompressed: float weights barely compress
    os.replace(tmp, path)
    return metadata


@dataclasses.dataclass
class AutoencoderFile:
    """A loaded configuration file."""

    config: Config
    encoder: tf.keras.Model
    decoder: tf.keras.Model
    int8: bytes | None
    metadata: dict
    digest_float: bytes
    digest_int8: bytes | None


def load_autoencoder(path: str) -> AutoencoderFile:
    """Reads a file written by save_autoencoder; TfcompError if it is missing or does not fit."""
    try:
        with np.load(path) as npz:
            metadata = json.loads(str(npz["metadata"]))
            enc = [npz[k] for k in sorted(k for k in npz.files if k.startswith("enc"))]
            dec = [npz[k] for k in sorted(k for k in npz.files if k.startswith("dec"))]
            int8 = npz["int8"].tobytes() if "int8" in npz.files else None
    except FileNotFoundError:
        raise TfcompError(f"the resae models are not installed (they do not ship: 18 MB and more each): train "
                          f"them with `tfcomp train -a resae` (and `-a resae-denoiser`), or set $TFCOMP_RESAE to "
                          f"their folder (looked for {os.path.basename(path)} in {os.path.dirname(path)})") from None
    except (OSError, KeyError, ValueError) as error:
        raise TfcompError(f"cannot read the resae model {path} ({type(error).__name__})") from None
    config = Config(**metadata["config"])
    encoder, decoder = build_encoder(config), build_decoder(config)
    try:
        encoder.set_weights(enc)
        decoder.set_weights(dec)
    except ValueError:
        raise TfcompError(f"{path}: weights do not fit this version's resae {config}") from None
    described = json.dumps(dataclasses.asdict(config), sort_keys=True).encode()
    digest_float = _digest(dec, b"float32 " + described)
    digest_int8 = hashlib.sha256(int8 + b"int8 " + described).digest() if int8 else None
    return AutoencoderFile(config, encoder, decoder, int8, metadata, digest_float, digest_int8)


def save_denoiser(path: str, denoiser: tf.keras.Model, metadata: dict) -> dict:
    """Writes the denoiser's weights and metadata to one .npz atomically."""
    weights = denoiser.get_weights()
    metadata = dict(metadata, parameters=int(sum(w.size for w in weights)),
                    bytes_float32=int(sum(4 * w.size for w in weights)))
    tmp = path + ".tmp.npz"
    np.savez(tmp, metadata=json.dumps(metadata), **{f"w{i:02d}": w for i, w in enumerate(weights)})
    os.replace(tmp, path)
    return metadata


def load_denoiser(path: str) -> tuple[tf.keras.Model, dict, bytes]:
    """(denoiser, metadata, 32-byte digest) of a file written by save_denoiser."""
    try:
        with np.load(path) as npz:
            metadata = json.loads(str(npz["metadata"]))
            weights = [npz[k] for k in sorted(k for k in npz.files if k.startswith("w"))]
    except FileNotFoundError:
        raise TfcompError(f"no resae denoiser at {path}; train one with `tfcomp train -a resae-denoiser` "
                          "(or use a -raw rate point)") from None
    except (OSError, KeyError, ValueError) as error:
        raise TfcompError(f"cannot read the resae denoiser {path} ({type(error).__name__})") from None
    denoiser = build_denoiser()
    try:
        denoiser.set_weights(weights)
    except ValueError:
        raise TfcompError(f"{path}: weights do not fit this version's denoiser") from None
    return denoiser, metadata, _digest(weights, b"denoiser")
