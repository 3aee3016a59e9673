"""The stacked denoising autoencoder (SDAE) (tfcomp/models/sdae.py) as a codec over whole images, in the .tfc container.

Rate points:

- `sdae-deflate`: the project's coding, latents rounded to 2 decimals as text, Deflate (its own one-point
  curve, family `sdae-deflate`);
- `sdae-q1` .. `sdae-q7`: ours, latents quantized with step STEPS[N - 1] (0.64 halving to 0.01) and
  range-coded under that step's learned prior (family `sdae`, q1 = smallest files); `sdae` alone is
  `sdae-q7`, the project's precision.

Whole images are cut into 128x128 tiles, the size the network is trained on: the image is padded to a
multiple of 128 by replicating its last row and column, every tile is coded on its own (tiles in raster
order, each tile's latents in row-major order), and the decoder crops the stitched tiles back to H x W.
Tiles are coded independently, so tile borders can show seams, as in the project, which codes each
128x128 image alone.

The model (transforms and priors) is one .npz file: $TFCOMP_SDAE, else sdae_model.npz beside this
module, written by `tfcomp train -a sdae`. A file's table hash is a digest of every weight and coding
parameter, so it never decodes with another model. The payload is in docs/FORMAT.md.
"""
from __future__ import annotations

import functools
import os

import numpy as np

from tfcomp.codecs import container
from tfcomp.codecs.base import Codec
from tfcomp.codecs.klt import from_blocks, to_blocks
from tfcomp.errors import TfcompError

FAMILY = "sdae"
DEFLATE = "deflate"
MODEL_ENV = "TFCOMP_SDAE"
MODEL_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sdae_model.npz")
TILE, LATENT_STRIDE = 128, 16
# Tiles per transform call: bounds the memory a large image needs (a 128x128 tile's activations are ~8 MB).
CHUNK = 16


def model_path() -> str:
    """The model file the codec uses: $TFCOMP_SDAE, else the one shipped beside this module."""
    return os.environ.get(MODEL_ENV, MODEL_PATH)


@functools.lru_cache(maxsize=None)
def load_model(path: str):
    """(SDAE model, metadata, 16-byte digest) of a model file, loaded once per process."""
    from tfcomp.models import sdae

    return sdae.load(path)


def to_tiles(image: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
    """uint8 (H, W, 3) image -> uint8 tiles (T, 128, 128, 3) in raster order and the tile grid; edges
    are replicated up to a multiple of 128."""
    vectors, grid = to_blocks(image, TILE)
    return vectors.reshape(-1, TILE, TILE, 3).astype(np.uint8), grid


def from_tiles(tiles: np.ndarray, grid: tuple[int, int], height: int, width: int) -> np.ndarray:
    """The inverse of to_tiles, cropped to (height, width)."""
    return from_blocks(tiles, grid, TILE, height, width)


def _batched(function, values: np.ndarray) -> np.ndarray:
    """function applied to values CHUNK tiles at a time, concatenated."""
    return np.concatenate([function(values[i:i + CHUNK]).numpy() for i in range(0, len(values), CHUNK)])


class SDAECodec(Codec):
    """The SDAE at one rate point: 'deflate' (the project's coding) or 'qN' (ours, step STEPS[N - 1])."""

    def __init__(self, point: str | None = None):
        from tfcomp.models.sdae import STEPS

        point = point or f"q{len(STEPS)}"
        names = [DEFLATE] + [f"q{i + 1}" for i in range(len(STEPS))]
        if point not in names:
            raise TfcompError(f"sdae rate points are sdae-{DEFLATE} and sdae-q1..q{len(STEPS)}, not sdae-{point}")
        self.point = point
        self.step_index = None if point == DEFLATE else names.index(point) - 1
        self.family = f"{FAMILY}-{DEFLATE}" if self.step_index is None else FAMILY

    @property
    def name(self) -> str:
        """e.g. 'sdae-q3' or 'sdae-deflate'; also the model name written into the file."""
        return f"{FAMILY}-{self.point}"

    @classmethod
    def from_name(cls, name: str) -> "SDAECodec | None":
        """The codec a name denotes ('sdae' is the default point), else None."""
        if name == FAMILY:
            return cls()
        family, _, point = name.partition("-")
        return cls(point) if family == FAMILY and (point == DEFLATE or point[:1] == "q") else None

    @classmethod
    def sweep(cls) -> list["SDAECodec"]:
        """Our coding at every step, smallest files first (the Deflate point is its own curve)."""
        from tfcomp.models.sdae import STEPS

        return [cls(f"q{i + 1}") for i in range(len(STEPS))]

    @property
    def model(self):
        """(SDAE model, metadata, digest) of the installed model file."""
        return load_model(model_path())

    def encode(self, image: np.ndarray, grayscale: bool = False) -> bytes:
        """Compresses a uint8 RGB image into a .tfc file."""
        from tfcomp.models.sdae import deflate_encode

        model, _, digest = self.model
        tiles, grid = to_tiles(image)
        latents = _batched(model.analyze, tiles)
        if self.step_index is None:
            string = deflate_encode(latents)
        else:
            string = model.priors.compress(latents, self.step_index)
        return container.pack(container.Container(
            model=self.name, table_hash=digest, height=image.shape[0], width=image.shape[1],
            channels=1 if grayscale else 3, variant=0,
            latent_shapes=((grid[0] * TILE // LATENT_STRIDE, grid[1] * TILE // LATENT_STRIDE),),
            strings=(string,)))

    def decode(self, data: bytes) -> np.ndarray:
        """Decompresses a .tfc file made at this rate point."""
        return self.decode_container(container.unpack(data))

    def decode_container(self, c: container.Container) -> np.ndarray:
        """Checks a parsed container against this codec and the installed model, then decodes it."""
        import tensorflow as tf

        from tfcomp.models.sdae import deflate_decode

        if c.model != self.name:
            raise TfcompError(f"file was made by {c.model!r}, not {self.name!r}")
        model, _, digest = self.model
        if c.table_hash != digest:
            raise TfcompError(f"file's model hash does not match the installed {FAMILY} model (different version?)")
        grid = (-(-c.height // TILE), -(-c.width // TILE))
        if c.variant != 0 or c.latent_shapes != ((grid[0] * TILE // LATENT_STRIDE, grid[1] * TILE // LATENT_STRIDE),):
            raise TfcompError("corrupt tfcomp file (sdae latent shape does not match the image size)")
        tiles = grid[0] * grid[1]
        if self.step_index is None:
            latents = deflate_decode(c.strings[0], tiles)
        else:
            try:
                latents = model.priors.decompress(c.strings[0], self.step_index, tiles)
            except tf.errors.OpError:
                raise TfcompError("corrupt tfcomp file (sdae latents do not decode)") from None
        return from_tiles(_batched(model.synthesize, latents), grid, c.height, c.width)
