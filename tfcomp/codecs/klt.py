"""PCA/KLT block codec `klt`: a Karhunen-Loeve transform learned on BSDS500 blocks, uniform quantization
and range coding; the learned-linear baseline of the rate-distortion curves.

Design, and why:

- Joint 8x8x3 RGB blocks (192 dimensions), one basis. A joint KLT learns the colour decorrelation together
  with the spatial one, so no colour transform comes first: a fixed orthonormal one (e.g. the orthonormal
  YCbCr-like opponent transform) would only rotate every block vector and leave the learned coefficients
  unchanged, and JPEG's YCbCr, which is not orthonormal, would make coefficient error differ from RGB
  error. Three per-channel 8x8 bases would miss the correlation between channels at the same frequency.
- The basis is orthonormal and every coefficient gets the same quantization step: squared error in the
  coefficient domain is then the pixel MSE, and at high rate one uniform step is MSE-optimal. The sweep
  therefore targets PSNR; there is no perceptual quantization matrix. Rate point `klt-qN` (N = 1..100,
  like JPEG's quality) has step 2 ** ((100 - N) / 12.5), 1 at quality 100 and halving every 12.5 points.
- Entropy coding is tfc's LocationScaleIndexedEntropyModel with a Laplace prior: the range coder and
  table construction the learned models use (no extra dependency), with values outside the tables
  escaped by its Elias-gamma code. The model is static per image: for each of the 192 coefficients the
  file carries one byte: the index of the table scale that codes that coefficient's quantized values in
  the fewest bits, plus a flag to code it as the difference from the previous block (left neighbour; the
  block above in the first column), set where that is cheaper, i.e. for the DC-like components. One
  scale per coefficient and image cannot follow local activity the way JPEG's run lengths do; on the
  bundled kodim23 it codes about 10% above the empirical entropy of the quantized coefficients.

The basis, block mean and eigenvalues ship in klt_basis.npz beside this file, made by `tfcomp train -a klt`
(BSDS500 training images, never Kodak). Files use the .tfc container (docs/FORMAT.md): the model name
is the rate point, the table hash is a digest of the basis, part 0 holds the 192 side-info bytes and
part 1 the range-coded coefficients of the ceil(H/8) x ceil(W/8) blocks.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os

import numpy as np

from tfcomp.codecs import container
from tfcomp.codecs.base import Codec, lowest_setting_at_least
from tfcomp.errors import TfcompError

FAMILY = "klt"
BASIS_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "klt_basis.npz")
SWEEP = (5, 10, 20, 30, 40, 50, 60, 70)
DEFAULT_QUALITY = 50
STEP_OCTAVE = 12.5
# Laplace scales (in quantization steps) of the entropy model's tables, log-spaced; larger values escape.
# SCALE_MAX keeps every table under the 2048 entries above which tfc warns about memory.
SCALE_MIN, SCALE_MAX, NUM_SCALES = 0.05, 128.0, 64
# 16 bits, the range coder's most: finer probabilities for the many nearly-always-zero coefficients.
PRECISION = 16
PREDICT_FLAG = 0x80  # side-info bit: code this coefficient as the difference from the previous block
SCALE_BITS = 0x7F    # the rest of the byte: the scale index


def to_blocks(image: np.ndarray, block: int) -> tuple[np.ndarray, tuple[int, int]]:
    """(H, W, 3) image -> (blocks, block*block*3) float64 vectors in raster order, and the block grid;
    edges are replicated up to a multiple of the block size."""
    height, width = image.shape[:2]
    rows, cols = -(-height // block), -(-width // block)
    padded = np.pad(image, ((0, rows * block - height), (0, cols * block - width), (0, 0)), mode="edge")
    vectors = padded.reshape(rows, block, cols, block, 3).transpose(0, 2, 1, 3, 4)
    return vectors.reshape(rows * cols, -1).astype(np.float64), (rows, cols)


def from_blocks(vectors: np.ndarray, grid: tuple[int, int], block: int, height: int, width: int) -> np.ndarray:
    """The inverse of to_blocks, cropped to (height, width)."""
    rows, cols = grid
    image = vectors.reshape(rows, cols, block, block, 3).transpose(0, 2, 1, 3, 4)
    return image.reshape(rows * block, cols * block, 3)[:height, :width]


@functools.lru_cache(maxsize=None)
def load_basis(path: str = BASIS_PATH) -> dict:
    """The shipped KLT: basis (components x dims, rows by decreasing eigenvalue), mean, eigenvalues,
    block size, training metadata and a 16-byte digest for file headers."""
    try:
        with np.load(path) as npz:
            basis = {key: npz[key] for key in ("basis", "mean", "eigenvalues")}
            metadata = json.loads(str(npz["metadata"]))
    except (OSError, KeyError, ValueError) as error:
        raise TfcompError(f"cannot read the KLT basis {path} ({type(error).__name__}); "
                          "regenerate it with `tfcomp train -a klt`") from None
    digest = hashlib.sha256(basis["basis"].tobytes() + basis["mean"].tobytes())
    digest.update(f"{SCALE_MIN} {SCALE_MAX} {NUM_SCALES} {PRECISION}".encode())  # the tables are part of the format
    return dict(basis, block=int(metadata["block"]), metadata=metadata,
                table_hash=digest.digest()[:container.HASH_BYTES])


@functools.lru_cache(maxsize=None)
def _entropy_model():
    """The range-coding tables, shared by every rate point (scales are in quantization steps)."""
    import tensorflow as tf
    import tensorflow_compression as tfc

    def scale_fn(index):
        factor = (np.log(SCALE_MAX) - np.log(SCALE_MIN)) / (NUM_SCALES - 1)
        return tf.math.exp(np.log(SCALE_MIN) + factor * index)

    return tfc.LocationScaleIndexedEntropyModel(tfc.NoisyLaplace, NUM_SCALES, scale_fn, coding_rank=2,
                                                compression=True, stateless=True, range_coder_precision=PRECISION)


def predict(values: np.ndarray, flags: np.ndarray) -> np.ndarray:
    """(rows, cols, dims) integers -> residuals: flagged dims minus the previous block's value."""
    residual = np.diff(values, axis=1, prepend=0)
    residual[:, 0] = np.diff(values[:, 0], axis=0, prepend=0)
    return np.where(flags, residual, values)


def unpredict(residual: np.ndarray, flags: np.ndarray) -> np.ndarray:
    """The inverse of predict()."""
    values = residual.copy()
    values[:, 0] = np.cumsum(values[:, 0], axis=0)
    return np.where(flags, np.cumsum(values, axis=1), residual)


def scales() -> np.ndarray:
    """The Laplace scales of the table rows, in quantization steps."""
    return np.exp(np.linspace(np.log(SCALE_MIN), np.log(SCALE_MAX), NUM_SCALES))


def code_lengths(values: np.ndarray) -> np.ndarray:
    """Bits to code integer values under each table scale's discretized Laplace (ignoring escapes)."""
    magnitude, count = np.unique(np.abs(values), return_counts=True)
    b = scales()[:, None]
    zero = np.log1p(-np.exp(-0.5 / b))
    # P(+-n) = exp(-(n - 1/2) / b) * (1 - exp(-1 / b)) / 2 per sign, for n >= 1.
    nonzero = np.log(0.5) - (magnitude - 0.5) / b + np.log1p(-np.exp(-1.0 / b))
    log_p = np.where(magnitude == 0, zero, nonzero)
    return -(log_p * count).sum(1) / np.log(2)


def side_info(values: np.ndarray) -> np.ndarray:
    """One byte per coefficient: prediction flag and the scale index that codes it in the fewest bits."""
    dims = values.shape[-1]
    flat = values.reshape(-1, dims)
    predicted = predict(values, np.ones(dims, bool)).reshape(flat.shape)
    side = np.empty(dims, np.uint8)
    for k in range(dims):
        plain, diff = code_lengths(flat[:, k]), code_lengths(predicted[:, k])
        use_diff = diff.min() < plain.min()
        side[k] = int(np.argmin(diff if use_diff else plain)) | (PREDICT_FLAG if use_diff else 0)
    return side


class KLTCodec(Codec):
    """The KLT block codec at one quality (1..100; larger = finer quantization, bigger files)."""

    family = FAMILY

    def __init__(self, quality: int = DEFAULT_QUALITY):
        if not 1 <= quality <= 100:
            raise TfcompError(f"klt quality must be 1..100, not {quality}")
        self.quality = quality
        self.step = 2.0 ** ((100 - quality) / STEP_OCTAVE)

    @property
    def name(self) -> str:
        """e.g. 'klt-q50'; also the model name written into the file."""
        return f"{FAMILY}-q{self.quality}"

    @classmethod
    def from_name(cls, name: str) -> "KLTCodec | None":
        """The codec a name denotes ('klt' is the default quality, 'klt-q30' quality 30), else None."""
        if name == FAMILY:
            return cls()
        family, _, setting = name.rpartition("-")
        return cls(int(setting[1:])) if family == FAMILY and setting[:1] == "q" and setting[1:].isdigit() else None

    @classmethod
    def sweep(cls) -> list["KLTCodec"]:
        """The default ladder of qualities, smallest files first."""
        return [cls(q) for q in SWEEP]

    @classmethod
    def at_least(cls, image: np.ndarray, target_bytes: int) -> tuple["KLTCodec", bytes]:
        """The lowest quality (1..100) whose file is not smaller than target_bytes (else quality 100)."""
        return lowest_setting_at_least(cls, image, target_bytes)

    @property
    def basis(self) -> dict:
        """The shipped KLT (loaded once per process)."""
        return load_basis()

    def encode(self, image: np.ndarray, grayscale: bool = False) -> bytes:
        """Compresses a uint8 RGB image into a .tfc file."""
        klt = self.basis
        height, width = image.shape[:2]
        vectors, grid = to_blocks(image, klt["block"])
        coefficients = (vectors - klt["mean"]) @ klt["basis"].T.astype(np.float64)
        values = np.round(coefficients / self.step).astype(np.int64).reshape(*grid, -1)
        side = side_info(values)
        residual = predict(values, side >= PREDICT_FLAG)
        string = _entropy_model().compress(residual.astype(np.float32).reshape(-1, residual.shape[-1]),
                                           self._indexes(side, grid))
        return container.pack(container.Container(
            model=self.name, table_hash=klt["table_hash"], height=height, width=width,
            channels=1 if grayscale else 3, variant=0, latent_shapes=((1, side.size), grid),
            strings=(side.tobytes(), string.numpy())))

    def decode(self, data: bytes) -> np.ndarray:
        """Decompresses a .tfc file made at this rate point."""
        return self.decode_container(container.unpack(data))

    def decode_container(self, c: container.Container) -> np.ndarray:
        """Checks a parsed container against this codec and the shipped basis, then decodes it."""
        import tensorflow as tf

        klt = self.basis
        dims = klt["basis"].shape[0]
        block = klt["block"]
        if c.model != self.name:
            raise TfcompError(f"file was made by {c.model!r}, not {self.name!r}")
        if c.table_hash != klt["table_hash"]:
            raise TfcompError(f"file's basis hash does not match the installed {FAMILY} basis (different version?)")
        grid = (-(-c.height // block), -(-c.width // block))
        if c.variant != 0 or c.latent_shapes != ((1, dims), grid) or len(c.strings[0]) != dims:
            raise TfcompError("corrupt tfcomp file (klt part shapes do not match the image size)")
        side = np.frombuffer(c.strings[0], np.uint8)
        if np.any((side & SCALE_BITS) >= NUM_SCALES):
            raise TfcompError("corrupt tfcomp file (klt scale index out of range)")
        try:
            residual = _entropy_model().decompress(tf.constant(c.strings[1]), self._indexes(side, grid)).numpy()
        except tf.errors.OpError:
            raise TfcompError("corrupt tfcomp file (klt coefficients do not decode)") from None
        values = unpredict(residual.astype(np.int64).reshape(*grid, dims), side >= PREDICT_FLAG)
        vectors = (values.reshape(-1, dims) * self.step) @ klt["basis"].astype(np.float64) + klt["mean"]
        image = from_blocks(vectors, grid, block, c.height, c.width)
        return np.clip(np.round(image), 0, 255).astype(np.uint8)

    @staticmethod
    def _indexes(side: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
        """Every coded value's scale index: its coefficient's, repeated over the blocks."""
        scale = (side & SCALE_BITS).astype(np.int32)
        return np.broadcast_to(scale, (grid[0] * grid[1], scale.size))
