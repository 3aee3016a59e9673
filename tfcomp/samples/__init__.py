"""Bundled sample images (Kodak, released for unrestricted use)."""
import os

SAMPLE_IMAGE = os.path.join(os.path.dirname(__file__), "kodim23.png")
