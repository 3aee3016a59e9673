"""TFLite decoders: a plain synthesis transform converted in four modes, builtin ops only.

Modes: float32; float16 (weights in half precision); dynamic-int8 (int8 weights, float activations);
int8 (full integer: int8 symbols in, int8 pixels out, calibrated on real latents; near-zero IGDN gamma
columns floored first, see plain_decoder.floor_gamma_columns). The int8 input is
pinned to scale 1 and zero point 0 by a fake-quantization node on [-128, 127], so integer symbols pass
exactly while the inner activations keep the ranges the calibration data give them. The float-activation
modes convert the split-phase form of the decoder, the int8 modes the sub-pixel form (see plain_decoder).
"""
from __future__ import annotations

from typing import Iterable

import numpy as np
import tensorflow as tf
from tensorflow.lite.python import schema_py_generated as schema

from tfcomp.export import TFLITE_MODES as MODES
from tfcomp.export import plain_decoder

INT8_RANGE = (-128.0, 127.0)
# Float activations: these modes convert the split-phase decoder (fewer multiplies, plain_decoder).
FLOAT_ACTIVATION_MODES = ("float32", "float16", "dynamic-int8")


def pin_input_range(decoder: tf.keras.Model) -> tf.keras.Model:
    """The decoder behind a fake-quantization of its input to [-128, 127] (int8 with scale 1, zero point 0)."""
    symbols = tf.keras.Input(decoder.input.shape[1:], batch_size=1, name="symbols")
    pinned = tf.quantization.fake_quant_with_min_max_args(symbols, *INT8_RANGE, num_bits=8)
    return tf.keras.Model(symbols, decoder(pinned), name=decoder.name)


def convert(decoder: tf.keras.Model, mode: str, calibration: Iterable[np.ndarray] = ()) -> bytes:
    """The decoder as a .tflite flatbuffer in one of MODES (int8 needs calibration symbols)."""
    if mode not in MODES:
        raise ValueError(f"unknown TFLite mode {mode!r}; choose from {', '.join(MODES)}")
    if mode == "int8":
        decoder = plain_decoder.copy(decoder)
        plain_decoder.floor_gamma_columns(decoder)
        decoder = pin_input_range(decoder)
    converter = tf.lite.TFLiteConverter.from_keras_model(decoder)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if mode != "float32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if mode == "int8":
        samples = [np.asarray(s, np.float32) for s in calibration]
        if not samples:
            raise ValueError("full-integer conversion needs calibration symbols")
        converter.representative_dataset = lambda: ([s] for s in samples)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    return converter.convert()


def operators(flatbuffer: bytes) -> list[tuple[str, int]]:
    """(builtin name, version) of every operator code the model uses, sorted."""
    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(flatbuffer, 0))
    names = {value: name for name, value in vars(schema.BuiltinOperator).items() if not name.startswith("_")}
    found = set()
    for code in model.operatorCodes:
        builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
        found.add((names.get(builtin, f"CUSTOM:{code.customCode}"), code.version))
    return sorted(found)


def interpreter(flatbuffer: bytes, threads: int = 2) -> tf.lite.Interpreter:
    """A TFLite interpreter (XNNPACK on, the default delegate) over the flatbuffer."""
    return tf.lite.Interpreter(model_content=flatbuffer, num_threads=threads)


def io_details(flatbuffer: bytes) -> dict:
    """Input and output dtype, shape and (scale, zero point) an app needs to feed and read the model."""
    runner = interpreter(flatbuffer)

    def describe(detail: dict) -> dict:
        scale, zero_point = detail["quantization"]
        return {"name": detail["name"], "dtype": np.dtype(detail["dtype"]).name,
                "shape": [int(v) for v in detail["shape_signature"]],
                "quantization": {"scale": float(scale), "zero_point": int(zero_point)} if scale else None}

    return {"input": describe(runner.get_input_details()[0]), "output": describe(runner.get_output_details()[0])}


class Decoder:
    """Runs a .tflite decoder on integer symbols of any latent size; returns float pixels (1, H, W, 3)."""

    def __init__(self, flatbuffer: bytes, threads: int = 2):
        self.runner = interpreter(flatbuffer, threads)
        self.input = self.runner.get_input_details()[0]
        self.output = self.runner.get_output_details()[0]
        self.shape = None

    def _prepare(self, shape: tuple[int, ...]) -> None:
        if shape != self.shape:
            self.runner.resize_tensor_input(self.input["index"], shape, strict=True)
            self.runner.allocate_tensors()
            self.shape = shape

    def __call__(self, symbols: np.ndarray) -> np.ndarray:
        """Symbols (1, h, w, C), integer-valued -> pixels in 0..255 as float32."""
        self._prepare(tuple(symbols.shape))
        dtype = self.input["dtype"]
        if dtype == np.int8:
            symbols = np.clip(symbols, *INT8_RANGE)
        self.runner.set_tensor(self.input["index"], symbols.astype(dtype))
        self.runner.invoke()
        out = self.runner.get_tensor(self.output["index"])
        scale, zero_point = self.output["quantization"]
        if scale:
            return (out.astype(np.float32) - zero_point) * scale
        return out.astype(np.float32)
