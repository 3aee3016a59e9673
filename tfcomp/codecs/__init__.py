"""Codecs behind one interface: learned models in the .tfc container and classic Pillow codecs."""
