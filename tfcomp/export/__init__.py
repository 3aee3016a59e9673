"""Deployment: plain-Keras decoders, TFLite conversion and SavedModel exports of shipped models."""
