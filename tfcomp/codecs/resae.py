"""The residual autoencoder (tfcomp/models/resae.py, docs/systems.md) as a codec, in the .tfc container.

Rate points: `resae-CONFIG[-int8][-raw]`, CONFIG one of small, base, large, xlarge (the essay's sizes);
`-int8` decodes with the int8 TFLite decoder instead of the float32 Keras one; `-raw` skips the denoiser
post-filter. `resae` alone is `resae-small-int8`, the essay's best deployment (quantized and denoised) of
the size we trained longest. The point is part of the file (its model name), so a file always decodes
the way it was made.

Design, and why:

- What the codec is for: the essay's system overfits one image set; its compression ratio counts the
  decoder, shared by the set, plus one latent per image. The codec codes any image, but only images of
  (or very like) the training set come back well; `tfcomp/evaluation/resae_eval.py` measures the essay's setting.
- Tiles: the network is trained on 256x256 images (the essay's protocol). Other sizes are cut into
  image_size x image_size tiles in raster order, the image padded to a multiple by replicating its last
  row and column (as the `sdae` codec), each tile coded on its own, and the decoded tiles are cropped
  back to H x W. A 256x256 image is exactly one latent, the essay's case.
- Latents: the encoder's float32 values as they are (little-endian), 4 * latent_dim bytes per tile (64
  for small), the essay's latent size. They are a negligible part of the essay's ratio next to the decoder
  share, so we do not quantize or entropy-code them.
- int8 format: TFLite full-integer (static) quantization, calibrated on the image set's latents
  (`resae_files.convert_int8`). We chose it over a numpy int8 weight format because the essay quantizes
  statically with calibration, i.e. activations too, and its quality and decode latency reflect integer
  arithmetic; a weight-only format would measure neither. TFLite's integer kernels are deterministic on
  a given machine, so files decode to the same pixels in every process.
- Denoiser: one shared post-filter (the essay trains one "general" denoiser for all sizes), applied to
  each decoded tile.

Model files (too large to ship: the small float decoder alone is 18 MB): `resae_CONFIG.npz` and
`resae_denoiser.npz` in $TFCOMP_RESAE, else runs/resae/models/ in the repository, written by
`tfcomp train -a resae`. A file's table hash is a digest of the decoder it needs (float32 weights or the
int8 flatbuffer), the denoiser unless `-raw`, and the format, so it never decodes with another model. The
payload is in docs/FORMAT.md.
"""
from __future__ import annotations

import functools
import hashlib
import os

import numpy as np

from tfcomp.codecs import container
from tfcomp.codecs.base import Codec
from tfcomp.codecs.klt import from_blocks, to_blocks
from tfcomp.data.locations import REPO
from tfcomp.errors import TfcompError

FAMILY = "resae"
CONFIG_NAMES = ("small", "base", "large", "xlarge")
DEFAULT_POINT = "small-int8"
MODEL_ENV = "TFCOMP_RESAE"
DEFAULT_DIR = os.path.join(REPO, "runs", "resae", "models")
DENOISER_FILE = "resae_denoiser.npz"
LATENT_DTYPE = np.dtype("<f4")
# Tiles per Keras call: bounds the memory of a large image; fixed, so every process batches alike.
CHUNK = 8
DENOISE_CHUNK = 4
FORMAT = b"resae v1 float32 latents per tile, raster order, edge-replicated tiles"


def model_dir() -> str:
    """The folder of model files: $TFCOMP_RESAE, else runs/resae/models in the repository."""
    return os.environ.get(MODEL_ENV, DEFAULT_DIR)


def model_file(config: str) -> str:
    """The path of one configuration's model file."""
    return os.path.join(model_dir(), f"resae_{config}.npz")


@functools.lru_cache(maxsize=None)
def load_autoencoder(path: str):
    """A configuration file (resae_files.AutoencoderFile), loaded once per process."""
    from tfcomp.codecs import resae_files

    return resae_files.load_autoencoder(path)


@functools.lru_cache(maxsize=None)
def load_denoiser(path: str):
    """(denoiser, metadata, digest), loaded once per process."""
    from tfcomp.codecs import resae_files

    return resae_files.load_denoiser(path)


@functools.lru_cache(maxsize=None)
def int8_decoder(path: str):
    """The int8 TFLite decoder of a configuration file, built once per process."""
    from tfcomp.codecs import resae_files

    model = load_autoencoder(path)
    if model.int8 is None:
        raise TfcompError(f"{path} has no int8 decoder (trained with --no-int8?)")
    return resae_files.Int8Decoder(model.int8)


def to_tiles(image: np.ndarray, size: int) -> tuple[np.ndarray, tuple[int, int]]:
    """uint8 (H, W, 3) -> uint8 tiles (T, size, size, 3) in raster order and the grid; edges replicated."""
    vectors, grid = to_blocks(image, size)
    return vectors.reshape(-1, size, size, 3).astype(np.uint8), grid


def from_tiles(tiles: np.ndarray, grid: tuple[int, int], height: int, width: int) -> np.ndarray:
    """The inverse of to_tiles, cropped to (height, width)."""
    return from_blocks(tiles, grid, tiles.shape[1], height, width)


def parse_point(point: str) -> tuple[str, bool, bool]:
    """'small-int8-raw' -> ('small', int8, denoised); TfcompError for anything else."""
    parts = point.split("-")
    config, flags = parts[0], parts[1:]
    if (config not in CONFIG_NAMES or len(set(flags)) != len(flags) or not set(flags) <= {"int8", "raw"}
            or flags != sorted(flags)):
        raise TfcompError(f"resae rate points are resae-CONFIG[-int8][-raw] with CONFIG in "
                          f"{', '.join(CONFIG_NAMES)}, not resae-{point}")
    return config, "int8" in flags, "raw" not in flags


class ResAECodec(Codec):
    """The residual autoencoder at one configuration, decoder precision and denoiser setting."""

    def __init__(self, point: str | None = None):
        self.point = point or DEFAULT_POINT
        self.config, self.int8, self.denoised = parse_point(self.point)
        self.family = FAMILY

    @property
    def name(self) -> str:
        """e.g. 'resae-small-int8'; also the model name written into the file."""
        return f"{FAMILY}-{self.point}"

    @classmethod
    def from_name(cls, name: str) -> "ResAECodec | None":
        """The codec a name denotes ('resae' is the default point), else None."""
        if name == FAMILY:
            return cls()
        family, _, point = name.partition("-")
        return cls(point) if family == FAMILY else None

    @classmethod
    def sweep(cls) -> list["ResAECodec"]:
        """The int8, denoised point of each configuration whose model file is installed (all four if none
        is, so the error names the missing file), smallest latents first."""
        installed = [c for c in CONFIG_NAMES if os.path.exists(model_file(c))] or list(CONFIG_NAMES)
        return [cls(f"{c}-int8") for c in installed]

    @property
    def model(self):
        """The configuration's model file, loaded."""
        return load_autoencoder(model_file(self.config))

    def digest(self) -> bytes:
        """The 16-byte table hash of this point with the installed model files."""
        model = self.model
        parts = [FORMAT, self.point.encode()]
        if self.int8:
            if model.digest_int8 is None:
                raise TfcompError(f"{model_file(self.config)} has no int8 decoder")
            parts.append(model.digest_int8)
        else:
            parts.append(model.digest_float)
        if self.denoised:
            parts.append(load_denoiser(os.path.join(model_dir(), DENOISER_FILE))[2])
        return hashlib.sha256(b"".join(parts)).digest()[:container.HASH_BYTES]

    def encode(self, image: np.ndarray, grayscale: bool = False) -> bytes:
        """Compresses a uint8 RGB image into a .tfc file: one float32 latent per tile."""
        latents, grid = self.latents(image)
        return container.pack(container.Container(
            model=self.name, table_hash=self.digest(), height=image.shape[0], width=image.shape[1],
            channels=1 if grayscale else 3, variant=0, latent_shapes=(grid,),
            strings=(latents.astype(LATENT_DTYPE).tobytes(),)))

    def latents(self, image: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
        """The encoder's float32 latents (T, latent_dim) of an image's tiles, and the tile grid."""
        import tensorflow as tf

        model = self.model
        tiles, grid = to_tiles(image, model.config.image_size)
        out = [model.encoder(tf.constant(tiles[i:i + CHUNK], tf.float32) / 255.0, training=False).numpy()
               for i in range(0, len(tiles), CHUNK)]
        return np.concatenate(out).astype(np.float32), grid

    def decode(self, data: bytes) -> np.ndarray:
        """Decompresses a .tfc file made at this rate point."""
        return self.decode_container(container.unpack(data))

    def decode_container(self, c: container.Container) -> np.ndarray:
        """Checks a parsed container against this codec and the installed models, then decodes it."""
        if c.model != self.name:
            raise TfcompError(f"file was made by {c.model!r}, not {self.name!r}")
        if c.table_hash != self.digest():
            raise TfcompError(f"file's model hash does not match the installed {self.name} model (different version?)")
        size, latent_dim = self.model.config.image_size, self.model.config.latent_dim
        grid = (-(-c.height // size), -(-c.width // size))
        if c.variant != 0 or c.latent_shapes != (grid,):
            raise TfcompError("corrupt tfcomp file (resae tile grid does not match the image size)")
        tiles = grid[0] * grid[1]
        if len(c.strings[0]) != tiles * latent_dim * LATENT_DTYPE.itemsize:
            raise TfcompError(f"corrupt tfcomp file (expected {tiles} resae latents of {latent_dim} float32 values)")
        latents = np.frombuffer(c.strings[0], LATENT_DTYPE).reshape(tiles, latent_dim).astype(np.float32)
        if not np.all(np.isfinite(latents)):
            raise TfcompError("corrupt tfcomp file (resae latents are not finite)")
        return from_tiles(self.synthesize(latents), grid, c.height, c.width)

    def synthesize(self, latents: np.ndarray) -> np.ndarray:
        """Latents (T, latent_dim) -> uint8 tiles: float or int8 decoder, then the denoiser unless raw."""
        import tensorflow as tf

        from tfcomp.models import resae, resae_denoiser

        if self.int8:
            images = int8_decoder(model_file(self.config))(latents)
        else:
            decoder = self.model.decoder
            images = np.concatenate([decoder(tf.constant(latents[i:i + CHUNK]), training=False).numpy()
                                     for i in range(0, len(latents), CHUNK)])
        tiles = resae.to_uint8(images)
        if self.denoised:
            denoiser = load_denoiser(os.path.join(model_dir(), DENOISER_FILE))[0]
            # The denoiser sees the 8-bit reconstruction, as it was trained (on decoded uint8 tiles).
            tiles = resae_denoiser.denoise(denoiser, tiles, DENOISE_CHUNK)
        return tiles
