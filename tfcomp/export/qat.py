"""Quantization-aware training (TFMOT) of a plain decoder, converted to a fully int8 TFLite model.

TFMOT's default 8-bit scheme knows Conv2D, ReLU and ZeroPadding2D. The plain decoder's own layers get
QuantizeConfigs here: the inverse GDN quantizes its gamma kernel per channel, |x|, the normalization
and its output, which are exactly the tensors the converter gives int8 ranges (ABS, CONV_2D, MUL), so
the converted model has no float islands; the offset and pixel-scaling layers quantize their outputs;
depth_to_space moves values without changing them. The model input is pinned to [-128, 127] (scale 1,
zero point 0) so integer symbols pass exactly, as in post-training int8 (tfcomp.export.tflite).
"""
from __future__ import annotations

from typing import Iterable

import numpy as np
import tensorflow as tf
import tensorflow_model_optimization as tfmot
from tensorflow_model_optimization.python.core.quantization.keras import quant_ops
from tensorflow_model_optimization.python.core.quantization.keras.default_8bit import default_8bit_quantizers

from tfcomp.export import finetune, plain_decoder, tflite

quantize = tfmot.quantization.keras
TRAINING_EMA_DECAY = 0.999  # TFMOT's MovingAverageQuantizer default
# Fine-tuning budget of `tfcomp export tflite --modes int8-qat` (results/deployment/quantization.md).
STEPS, LEARNING_RATE, CROPS = 300, 1e-5, 512


class RangeQuantizer(quantize.quantizers.MovingAverageQuantizer):
    """TFMOT's moving-average activation quantizer with its EMA decay in a variable, so calibration can start
    the ranges at the mean batch extremes (see calibrate) instead of TFMOT's fixed [-6, 6]."""

    def __init__(self):
        super().__init__(num_bits=8, per_axis=False, symmetric=False, narrow_range=False)

    def build(self, tensor_shape, name, layer) -> dict:
        """Range variables plus the decay."""
        weights = super().build(tensor_shape, name, layer)
        weights["decay"] = layer.add_weight(name + "_ema_decay", initializer=tf.keras.initializers.Constant(
            TRAINING_EMA_DECAY), trainable=False)
        return weights

    def __call__(self, inputs, training, weights, **kwargs):
        """Fake-quantizes inputs; in training, moves the range towards the batch extremes."""
        return quant_ops.MovingAvgQuantize(inputs, weights["min_var"], weights["max_var"],
                                           ema_decay=weights["decay"], is_training=training, num_bits=8)

    def get_config(self) -> dict:
        """No arguments."""
        return {}


class _Config(quantize.QuantizeConfig):
    """A weightless layer's QuantizeConfig: output quantized or not."""

    def __init__(self, output: bool = True):
        self.output = output

    def get_weights_and_quantizers(self, layer):
        """None."""
        return []

    def get_activations_and_quantizers(self, layer):
        """None."""
        return []

    def set_quantize_weights(self, layer, quantize_weights) -> None:
        """Nothing to swap."""
        return None  # an explicit statement: autograph cannot convert a docstring-only body

    def set_quantize_activations(self, layer, quantize_activations) -> None:
        """Nothing to swap."""
        return None

    def get_output_quantizers(self, layer):
        """The output's activation quantizer, if any."""
        return [RangeQuantizer()] if self.output else []

    def get_config(self) -> dict:
        """Constructor arguments."""
        return {"output": self.output}


class OutputQuantizeConfig(_Config):
    """Weightless layers: the offset's ADD and the pixel MUL get an int8 output range; depth_to_space and the
    clamp's input (output=False) keep the scale of what feeds them."""


class ConvQuantizeConfig(_Config):
    """Conv2D as TFLite runs it: kernel int8 per output channel; output quantized unless a fused clamp follows."""

    def get_weights_and_quantizers(self, layer):
        """The kernel, per output channel and symmetric."""
        return [(layer.kernel, default_8bit_quantizers.Default8BitConvWeightsQuantizer())]

    def set_quantize_weights(self, layer, quantize_weights) -> None:
        """Swaps the fake-quantized kernel in."""
        layer.kernel = quantize_weights[0]


class InverseGDNQuantizeConfig(_Config):
    """IGDN = x * conv1x1(|x|): gamma per channel, and |x|, the normalization and the product each with their
    own range, the three tensors TFLite's ABS, CONV_2D and MUL give int8 ranges."""

    def get_weights_and_quantizers(self, layer):
        """The 1x1 kernel (gamma), per output channel and symmetric."""
        return [(layer.norm.kernel, default_8bit_quantizers.Default8BitConvWeightsQuantizer())]

    def get_activations_and_quantizers(self, layer):
        """|x| and the normalization."""
        return [(layer.magnitude_activation, RangeQuantizer()), (layer.norm.activation, RangeQuantizer())]

    def set_quantize_weights(self, layer, quantize_weights) -> None:
        """Swaps the fake-quantized kernel in."""
        layer.norm.kernel = quantize_weights[0]

    def set_quantize_activations(self, layer, quantize_activations) -> None:
        """Swaps the fake-quantizing activations in."""
        layer.magnitude_activation, layer.norm.activation = quantize_activations


class Clamp(tf.keras.layers.Layer):
    """RELU6 (the plain decoder's clamp) under another class name: TFMOT's Conv2D+ReLU rule would otherwise
    leave the last convolution's kernel unquantized."""

    def call(self, x: tf.Tensor) -> tf.Tensor:
        """min(max(x, 0), 6)."""
        return tf.nn.relu6(x)


def scope() -> quantize.quantize_scope:
    """Deserialization scope for the plain decoder's layers and these configs."""
    objects = {cls.__name__: cls for cls in (
        RangeQuantizer, OutputQuantizeConfig, ConvQuantizeConfig, InverseGDNQuantizeConfig, Clamp)}
    return quantize.quantize_scope({**objects, **plain_decoder.CUSTOM_OBJECTS})


def _annotated_layers(decoder: tf.keras.Model) -> dict[str, tf.keras.layers.Layer]:
    """Each layer's quantization-aware stand-in, by name."""
    feeds_clamp = {node.inbound_layers.name for layer in decoder.layers if isinstance(layer, tf.keras.layers.ReLU)
                   for node in layer.inbound_nodes}
    stand_ins = {}
    for layer in decoder.layers:
        copy = layer.__class__.from_config(layer.get_config())
        if isinstance(layer, tf.keras.layers.ReLU):
            if layer.max_value != 6.0 or layer.threshold or layer.negative_slope:
                raise ValueError(f"{layer.name}: only the RELU6 clamp is supported")
            stand_ins[layer.name] = quantize.quantize_annotate_layer(Clamp(name=layer.name), OutputQuantizeConfig())
        elif isinstance(layer, tf.keras.layers.Conv2D):
            config = ConvQuantizeConfig(output=layer.name not in feeds_clamp)
            stand_ins[layer.name] = quantize.quantize_annotate_layer(copy, config)
        elif isinstance(layer, plain_decoder.InverseGDN):
            stand_ins[layer.name] = quantize.quantize_annotate_layer(copy, InverseGDNQuantizeConfig())
        elif isinstance(layer, (plain_decoder.AddOffset, tf.keras.layers.Rescaling)):
            stand_ins[layer.name] = quantize.quantize_annotate_layer(copy, OutputQuantizeConfig())
        elif isinstance(layer, plain_decoder.DepthToSpace):
            stand_ins[layer.name] = quantize.quantize_annotate_layer(copy, OutputQuantizeConfig(output=False))
        else:
            stand_ins[layer.name] = copy
    return stand_ins


def _pin_input(model: tf.keras.Model) -> None:
    """Sets the input quantizer's range to [-128, 127]: TFMOT's all-values input quantizer never narrows it."""
    layer = next(layer for layer in model.layers if type(layer).__name__ == "QuantizeLayer")
    for variable in layer.weights:
        if variable.name.endswith("_min:0"):
            variable.assign(tflite.INT8_RANGE[0])
        elif variable.name.endswith("_max:0"):
            variable.assign(tflite.INT8_RANGE[1])


def quantize_aware(decoder: tf.keras.Model) -> tf.keras.Model:
    """The decoder with fake quantization wherever TFLite int8 quantizes, starting from its weights (IGDN
    gamma columns floored as for post-training int8)."""
    decoder = plain_decoder.copy(decoder)
    plain_decoder.floor_gamma_columns(decoder)
    with scope():
        stand_ins = _annotated_layers(decoder)
        annotated = tf.keras.models.clone_model(decoder, clone_function=lambda layer: stand_ins[layer.name])
        annotated.set_weights(decoder.get_weights())
        model = quantize.quantize_apply(annotated)
    _pin_input(model)
    return model


def _decays(model: tf.keras.Model) -> list[tf.Variable]:
    return [v for v in model.variables if v.name.endswith("_ema_decay:0")]


def _floor_gamma_columns(model: tf.keras.Model) -> None:
    """plain_decoder.floor_gamma_columns on a quantization-aware model, kernel ranges refreshed to match."""
    for wrapper in model.layers:
        if isinstance(getattr(wrapper, "layer", None), plain_decoder.InverseGDN):
            plain_decoder.floor_gamma_kernel(next(v for v in wrapper.trainable_weights if v.name.endswith("kernel:0")))
    # One training-mode pass recomputes the weight ranges; a decay of 1 keeps the activation ranges.
    decays = [decay.numpy() for decay in _decays(model)]
    _set_decays(model, 1.0)
    model(np.zeros((1, 2, 2, model.input.shape[-1]), np.float32), training=True)
    for decay, value in zip(_decays(model), decays):
        decay.assign(value)


def _set_decays(model: tf.keras.Model, value: float) -> None:
    for decay in _decays(model):
        decay.assign(value)


def calibrate(model: tf.keras.Model, symbols: Iterable[np.ndarray], then_decay: float = 1.0) -> int:
    """Sets every activation range to the mean of its batch extremes over the symbol batches (whole images:
    what the moving average would settle on), then sets the EMA decay for training: 1 (the default) holds
    the ranges, since training crops are smaller than images and their extremes would narrow them.
    Returns the number of batches."""
    count = 0
    for count, batch in enumerate(symbols, start=1):
        _set_decays(model, (count - 1) / count)  # a running mean: the first batch sets the range
        model(np.clip(batch, *tflite.INT8_RANGE), training=True)
    _set_decays(model, then_decay)
    return count


def convert(qat_model: tf.keras.Model) -> bytes:
    """A trained quantization-aware decoder (batch 1) as a fully int8 TFLite model: int8 in, int8 out.
    The ranges are the model's own (its fake-quantization nodes); nothing is calibrated at conversion."""
    # Training may have pulled a floored gamma column back towards zero.
    _floor_gamma_columns(qat_model)
    converter = tf.lite.TFLiteConverter.from_keras_model(qat_model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    # No TFLITE_BUILTINS_INT8 here: with it, TF 2.14 demands a representative dataset before it looks at the
    # graph. Every op is int8 anyway because every tensor has a fake-quantization range (float_tensors checks).
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    return converter.convert()


def float_tensors(flatbuffer: bytes) -> list[str]:
    """Names of the float tensors in a converted model (none in a fully integer one)."""
    runner = tflite.interpreter(flatbuffer)
    return [t["name"] for t in runner.get_tensor_details() if np.dtype(t["dtype"]).kind == "f"]


def train(exported, pairs: tf.data.Dataset | None, calibration: Iterable[np.ndarray], steps: int, lr: float,
          range_decay: float = 1.0,
          latent_shape: tuple[int | None, int | None] = (None, None)) -> tuple[tf.keras.Model, dict]:
    """Quantization-aware fine-tuning of an exported model's decoder (tflite_export.ExportedModel): ranges
    calibrated on the symbol batches, then `steps` of decoder-only MSE training on the (symbols, crop)
    pairs (range_decay < 1 lets the activation ranges follow the training batches). Returns the batch-1 quantization-aware decoder for convert() and the training record."""
    trainable = quantize_aware(plain_decoder.plain_synthesis(exported.layers, exported.offset, batch_size=None))
    batches = calibrate(trainable, calibration, range_decay)
    record = finetune.finetune(trainable, pairs, steps, lr) if steps else {"steps": 0, "lr": lr}
    deployable = quantize_aware(exported.plain(latent_shape))
    deployable.set_weights(trainable.get_weights())
    return deployable, {**record, "calibration_batches": batches, "range_decay": range_decay}


def quantize_exported(exported, calibration: Iterable[np.ndarray], steps: int = STEPS, lr: float = LEARNING_RATE,
                      crops: int = CROPS, range_decay: float = 1.0,
                      latent_shape: tuple[int | None, int | None] = (None, None)) -> tuple[bytes, dict]:
    """An exported model's decoder, quantization-aware fine-tuned on BSDS500 training crops and converted
    to a fully int8 TFLite flatbuffer; returns it with the training record."""
    pairs = finetune.training_pairs(exported, crops=crops) if steps else None
    model, record = train(exported, pairs, calibration, steps, lr, range_decay, latent_shape)
    return convert(model), record
