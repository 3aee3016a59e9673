"""TFDS builder `kodak`: the 24 Kodak images from their canonical location, or a manual folder offline.

Importing this module registers the builder, so `tfds.load("kodak", split="test")` works.
"""
from __future__ import annotations

import os

import tensorflow_datasets as tfds

from tfcomp.data.kodak import KODAK_URL

NUM_IMAGES = 24


class Kodak(tfds.core.GeneratorBasedBuilder):
    """Kodak Lossless True Color Image Suite: 24 PNGs of 768x512 (or 512x768), one 'test' split."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "First release."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        "Offline: put kodim01.png ... kodim24.png in the manual directory "
        "(tfds.download.DownloadConfig(manual_dir=...)); online, they are downloaded from r0k.us.")

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict({
                "image": tfds.features.Image(shape=(None, None, 3)),
                "name": tfds.features.Text(),
            }),
            supervised_keys=None,
            homepage="http://r0k.us/graphics/kodak/",
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        try:
            manual = dl_manager.manual_dir
        except AssertionError:  # TFDS asserts when the manual directory does not exist
            manual = None
        files = sorted(f for f in os.listdir(manual) if f.startswith("kodim") and f.endswith(".png")) \
            if manual and os.path.isdir(manual) else []
        if files:
            paths = {os.path.splitext(f)[0]: os.path.join(manual, f) for f in files}
        else:
            paths = dl_manager.download(
                {f"kodim{i:02d}": KODAK_URL.format(i) for i in range(1, NUM_IMAGES + 1)})
        return {"test": self._generate_examples(paths)}

    def _generate_examples(self, paths: dict):
        for name, path in sorted(paths.items()):
            yield name, {"image": os.fspath(path), "name": name}
