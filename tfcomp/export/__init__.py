"""Deployment: plain-Keras decoders, TFLite conversion and SavedModel exports of shipped models.

The names below import no TensorFlow, so the CLI can offer them without loading it.
"""

TFLITE_MODES = ("float32", "float16", "dynamic-int8", "int8")
# Opt-in: quantization-aware fine-tuning needs the training images (tfcomp.export.finetune.train_dir).
TFLITE_TRAINED_MODES = ("int8-qat",)
SAVEDMODEL_KINDS = ("codec", "transforms")
