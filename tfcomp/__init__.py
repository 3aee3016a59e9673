"""tfcomp: learned image compression with Keras and TensorFlow Compression."""
import os

# TensorFlow's C++ start-up chatter drowns out the CLI's own output; users can still override it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

__version__ = "0.1.0"
