"""Deployment: plain-Keras decoders, TFLite conversion and SavedModel exports of shipped models.

The names below import no TensorFlow, so the CLI can offer them without loading it.
"""

TFLITE_MODES = ("float32", "float16", "dynamic-int8", "int8")
SAVEDMODEL_KINDS = ("codec", "transforms")
