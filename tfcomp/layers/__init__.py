"""Keras layers built on tfc that the models share."""
