"""A shipped learned model as a Codec: SavedModel coding stages wrapped in the .tfc container."""
from __future__ import annotations

import functools
import math

import numpy as np

from tfcomp import zoo
from tfcomp.codecs import container
from tfcomp.codecs.base import Codec
from tfcomp.errors import TfcompError
from tfcomp.training.saving import read_metadata


class LearnedCodec(Codec):
    """One trained model (one rate point) loaded from its SavedModel directory."""

    def __init__(self, path: str):
        self.path = path
        self.metadata = read_metadata(path)
        self.family = self.metadata.get("family", self.metadata["architecture"])

    @property
    def name(self) -> str:
        """The model's shipped name, also written into every file it makes."""
        return self.metadata["name"]

    @functools.cached_property
    def model(self):
        """The loaded SavedModel (tensorflow_compression must be imported for its custom ops)."""
        import tensorflow as tf
        import tensorflow_compression  # noqa: F401  (registers the range-coding ops)

        model = tf.saved_model.load(self.path)
        self._check_tables(model)
        return model

    def _check_tables(self, model) -> None:
        from tfcomp.models.common import table_hash

        digest = table_hash(model.entropy_tables().numpy())
        if digest != self.metadata["entropy_table_sha256"]:
            raise TfcompError(f"{self.name}: entropy tables do not match its metadata (damaged model?)")

    @property
    def table_hash(self) -> bytes:
        """The first bytes of the entropy tables' sha256, as stored in file headers."""
        return bytes.fromhex(self.metadata["entropy_table_sha256"])[:container.HASH_BYTES]

    def expected_latent_shapes(self, height: int, width: int) -> tuple[tuple[int, int], ...]:
        """Latent sizes this model produces for an image size (one per coded part)."""
        return tuple((math.ceil(height / s), math.ceil(width / s)) for s in self.metadata["latent_strides"])

    def encode(self, image: np.ndarray, grayscale: bool = False) -> bytes:
        """Compresses a uint8 RGB image into a .tfc file."""
        strings, shapes = self.model.compress(image)
        return container.pack(container.Container(
            model=self.name, table_hash=self.table_hash, height=image.shape[0], width=image.shape[1],
            channels=1 if grayscale else 3, variant=0,
            latent_shapes=tuple(tuple(int(v) for v in s) for s in shapes.numpy()),
            strings=tuple(strings.numpy())))

    def decode(self, data: bytes) -> np.ndarray:
        """Decompresses a .tfc file made by this model."""
        return self.decode_container(container.unpack(data))

    def decode_container(self, c: container.Container) -> np.ndarray:
        """Checks a parsed container against this model, then decodes it."""
        if c.model != self.name:
            raise TfcompError(f"file was made by model {c.model!r}, not {self.name!r}")
        if c.table_hash != self.table_hash:
            raise TfcompError(f"file's entropy-table hash does not match model {self.name!r} (different version?)")
        if c.latent_shapes != self.expected_latent_shapes(c.height, c.width):
            raise TfcompError("corrupt tfcomp file (latent shape does not match image size)")
        import tensorflow as tf

        image = self.model.decompress(tf.constant(c.strings), tf.constant([c.height, c.width], tf.int32),
                                      tf.constant(c.latent_shapes, tf.int32))
        return image.numpy()

    def estimated_bits(self, image: np.ndarray) -> float:
        """The entropy model's rate estimate for an image, to compare with the real file size."""
        return float(self.model.estimate_bits(image))

    def stages(self, image: np.ndarray, data: bytes) -> dict:
        """Encode/decode totals plus the transforms and the entropy coding timed apart."""
        import tensorflow as tf

        c = container.unpack(data)
        strings = tf.constant(c.strings)
        shapes = tf.constant(c.latent_shapes, tf.int32)
        x_shape = tf.constant([c.height, c.width], tf.int32)
        y = self.model.analyze(image)
        y_hat = self.model.entropy_decode(strings, shapes)
        return {
            "encode": lambda: self.encode(image),
            "decode": lambda: self.decode(data),
            "analysis": lambda: self.model.analyze(image).numpy(),
            "entropy_encode": lambda: self.model.entropy_encode(y)[0].numpy(),
            "entropy_decode": lambda: self.model.entropy_decode(strings, shapes).numpy(),
            "synthesis": lambda: self.model.synthesize(y_hat, x_shape).numpy(),
        }


def load(name: str | None = None) -> LearnedCodec:
    """A shipped model by full name or architecture (its default); the CLI default when None."""
    return LearnedCodec(zoo.resolve(name))


def decode_file(data: bytes) -> tuple[np.ndarray, container.Container]:
    """Decodes any .tfc file with the shipped model named in its header."""
    c = container.unpack(data)
    return load_for_file(c).decode_container(c), c


def load_for_file(c: container.Container) -> LearnedCodec:
    """The shipped model a parsed file names; a clear error when it is not shipped."""
    try:
        return LearnedCodec(zoo.resolve(c.model))
    except TfcompError:
        raise TfcompError(f"file needs model {c.model!r}, which is not installed") from None
