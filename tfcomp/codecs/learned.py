"""A shipped learned model as a Codec: SavedModel coding stages wrapped in the .tfc container."""
from __future__ import annotations

import functools
import math
import threading

import numpy as np

from tfcomp import zoo
from tfcomp.codecs import container, tiling
from tfcomp.codecs.base import Codec
from tfcomp.errors import TfcompError
from tfcomp.zoo import read_metadata


class LearnedCodec(Codec):
    """One rate point of a trained model loaded from its SavedModel directory: the model itself, one width of
    a slimmable model (whose index every file stores in its `variant` byte), or one quality of a
    variable-rate model (stored in the file's quality field), optionally refining each image's latents at encode
    time with `refine` gradient steps (models that have compress_refined; decoding is unchanged)."""

    def __init__(self, path: str, width_index: int | None = None, quality: float | None = None, refine: int = 0):
        self.path = path
        self.refine = refine
        self.metadata = read_metadata(path)
        self.widths = self.metadata["config"].get("widths")
        if width_index is not None and not (self.widths and 0 <= width_index < len(self.widths)):
            raise TfcompError(f"{self.model_name} has no width index {width_index}"
                              + (f" (widths {self.widths})" if self.widths else " (not a slimmable model)"))
        self.width_index = width_index if width_index is not None else (0 if self.widths else None)
        self.quality = None
        # Tile side for the transforms: None picks tiling for large images (tfcomp.codecs.tiling), 0 never tiles.
        self.tile: int | None = None
        if self.quality_range is not None:
            self.set_quality(self.metadata.get("default_quality", 1.0) if quality is None else quality)
        elif quality is not None:
            raise TfcompError(f"--quality with a fraction is for variable-rate models, not {self.model_name}")

    @property
    def quality_range(self) -> tuple[float, float] | None:
        """(lowest, highest) quality of a variable-rate model, else None."""
        return zoo.quality_range(self.metadata)

    def set_quality(self, quality: float) -> None:
        """Codes at another quality of a variable-rate model (rounded as the file header records it)."""
        low, high = self.quality_range
        if not low <= quality <= high:
            raise TfcompError(f"quality must be {low:g}..{high:g} for {self.model_name}")
        self.quality = container.quantize_quality(quality)

    @property
    def model_name(self) -> str:
        """The model's shipped name, also written into every file it makes."""
        return self.metadata["name"]

    @property
    def name(self) -> str:
        """The rate point's name: the model's, with '-w<width>' for a width of a slimmable model and
        '-q<quality>' for a quality of a variable-rate model."""
        if self.quality is not None:
            return f"{self.model_name}-q{self.quality:g}{self.refine_suffix}"
        return self.model_name if self.widths is None else f"{self.model_name}-w{self.widths[self.width_index]}"

    @property
    def family(self) -> str:
        """The RD curve this point belongs to: the model's ladder or architecture, '-refine<steps>' apart."""
        return self.metadata.get("family", self.metadata["architecture"]) + self.refine_suffix

    @property
    def refine_suffix(self) -> str:
        """'-refine<steps>' when encoding refines the latents (in point and curve names), else ''."""
        return f"-refine{self.refine}" if self.refine else ""

    def check_refine(self) -> None:
        """Refuses a refinement this model cannot do (it needs the compress_refined coding function)."""
        if self.refine < 0:
            raise TfcompError("--refine must be 0 or more steps")
        if self.refine and not hasattr(self.model, "compress_refined"):
            raise TfcompError(f"{self.model_name} cannot refine its latents (ms2020vr models can)")

    def _width(self) -> tuple:
        """The extra argument the coding functions take: a slimmable model's width index, a variable-rate
        model's quality."""
        import tensorflow as tf

        if self.quality is not None:
            return (tf.constant(self.quality, tf.float32),)
        return () if self.widths is None else (tf.constant(self.width_index, tf.int32),)

    @property
    def model(self):
        """The loaded SavedModel, shared by every codec of this model in the process (a batch loads it once)."""
        with _LOADING:  # batch workers wait for the one copy
            return _saved_model(self.path, self.metadata["entropy_table_sha256"], self.model_name)

    @property
    def table_hash(self) -> bytes:
        """The first bytes of the entropy tables' sha256, as stored in file headers."""
        return bytes.fromhex(self.metadata["entropy_table_sha256"])[:container.HASH_BYTES]

    def expected_latent_shapes(self, height: int, width: int) -> tuple[tuple[int, int], ...]:
        """Latent sizes this model produces for an image size (one per coded part)."""
        return tuple((math.ceil(height / s), math.ceil(width / s)) for s in self.metadata["latent_strides"])

    @property
    def stride(self) -> int:
        """Pixels per latent."""
        return self.metadata["latent_strides"][0]

    def encode(self, image: np.ndarray, grayscale: bool = False) -> bytes:
        """Compresses a uint8 RGB image into a .tfc file (large images tile by tile, the same file format)."""
        w = self._width()
        tile = tiling.tile_size(*image.shape[:2], self.tile)
        if self.refine:
            import tensorflow as tf

            self.check_refine()
            if tile:
                raise TfcompError(f"--refine codes images in one piece: use --tile 0 (this one would be coded in "
                                  f"{tile}-pixel tiles)")
            strings, shapes = self.model.compress_refined(image, *w, tf.constant(self.refine, tf.int32))
        elif tile:
            y = tiling.analyze(lambda crop: self.model.analyze(crop, *w), image, self.stride, tile)
            strings, shapes = self.model.entropy_encode(y, *w)
        else:
            strings, shapes = self.model.compress(image, *w)
        return container.pack(container.Container(
            model=self.model_name, table_hash=self.table_hash, height=image.shape[0], width=image.shape[1],
            channels=1 if grayscale else 3, variant=self.width_index or 0,
            latent_shapes=tuple(tuple(int(v) for v in s) for s in shapes.numpy()),
            strings=tuple(strings.numpy()), quality=self.quality, model_version=zoo.version(self.metadata)))

    def decode(self, data: bytes) -> np.ndarray:
        """Decompresses a .tfc file made by this model."""
        return self.decode_container(container.unpack(data))

    def decode_container(self, c: container.Container) -> np.ndarray:
        """Checks a parsed container against this model, then decodes it."""
        if c.model != self.model_name:
            raise TfcompError(f"file was made by model {c.model!r}, not {self.model_name!r}")
        if c.model_version != zoo.version(self.metadata):
            raise TfcompError(f"file needs {c.model} version {c.model_version}; the installed {c.model} is version "
                              f"{zoo.version(self.metadata)}")
        if c.variant != (self.width_index or 0):
            raise TfcompError(f"file was made at variant {c.variant}, not {self.width_index or 0} of {self.model_name!r}")
        if c.table_hash != self.table_hash:
            raise TfcompError(f"file's entropy-table hash does not match model {self.name!r} (different version?)")
        if c.latent_shapes != self.expected_latent_shapes(c.height, c.width):
            raise TfcompError("corrupt tfcomp file (latent shape does not match image size)")
        if (c.quality is None) != (self.quality_range is None):
            raise TfcompError("corrupt tfcomp file (quality field " +
                              ("missing for a variable-rate model)" if c.quality is None else "on a fixed-rate model)"))
        if c.quality is not None and c.quality != self.quality:
            self.set_quality(c.quality)
        import tensorflow as tf

        w, strings, shapes = self._width(), tf.constant(c.strings), tf.constant(c.latent_shapes, tf.int32)
        tile = tiling.tile_size(c.height, c.width, self.tile)
        try:
            if not tile:
                return self.model.decompress(strings, tf.constant([c.height, c.width], tf.int32), shapes, *w).numpy()
            y_hat = self.model.entropy_decode(strings, shapes, *w).numpy()
            return tiling.synthesize(lambda crop, size: self.model.synthesize(crop, tf.constant(size, tf.int32), *w),
                                     y_hat, c.height, c.width, self.stride, tile)
        except tf.errors.InvalidArgumentError:
            # The range decoder's sanity check: the coded data is not what this model wrote.
            raise TfcompError("corrupt tfcomp file (range decoding failed)") from None
        except tf.errors.OpError as error:  # out of memory, for one: still one line, never a traceback
            raise TfcompError(f"decoding failed ({type(error).__name__}: {error.message.splitlines()[0]})") from None

    def warm_up(self) -> None:
        """Runs the coding functions once on tiny zero latents (once per process, model and width), so that a
        later decode's time is its data's own: a loaded function's first call optimizes its graph, seconds on a
        busy machine, which a decoding deadline (tfcomp.cli.sandbox) must not count."""
        import tensorflow as tf

        key = (self.path, self.width_index)
        if key in _WARM:
            return
        w, size = self._width(), tf.constant([64, 64], tf.int32)
        channels = self.widths[self.width_index] if self.widths else self.metadata["latent_channels"]
        strings, shapes = self.model.entropy_encode(tf.zeros((1, 4, 4, channels)), *w)
        self.model.decompress(strings, size, shapes, *w)  # whole images
        self.model.synthesize(self.model.entropy_decode(strings, shapes, *w), size, *w)  # tiled ones
        _WARM.add(key)

    def estimated_bits(self, image: np.ndarray) -> float:
        """The entropy model's rate estimate for an image, to compare with the real file size."""
        return float(self.model.estimate_bits(image, *self._width()))

    def stages(self, image: np.ndarray, data: bytes) -> dict:
        """Encode/decode totals plus the transforms and the entropy coding timed apart."""
        import tensorflow as tf

        c = container.unpack(data)
        strings = tf.constant(c.strings)
        shapes = tf.constant(c.latent_shapes, tf.int32)
        x_shape = tf.constant([c.height, c.width], tf.int32)
        w = self._width()
        y = self.model.analyze(image, *w)
        y_hat = self.model.entropy_decode(strings, shapes, *w)
        return {
            "encode": lambda: self.encode(image),
            "decode": lambda: self.decode(data),
            "analysis": lambda: self.model.analyze(image, *w).numpy(),
            "entropy_encode": lambda: self.model.entropy_encode(y, *w)[0].numpy(),
            "entropy_decode": lambda: self.model.entropy_decode(strings, shapes, *w).numpy(),
            "synthesis": lambda: self.model.synthesize(y_hat, x_shape, *w).numpy(),
        }


_LOADING = threading.Lock()
# (model path, width index) of the codecs whose functions have run once (LearnedCodec.warm_up).
_WARM: set[tuple[str, int | None]] = set()


@functools.lru_cache(maxsize=None)
def _saved_model(path: str, table_sha256: str, name: str):
    """The SavedModel at `path`, loaded once per process, after checking its tables against its metadata
    (tensorflow_compression must be imported for its custom ops)."""
    import tensorflow as tf
    import tensorflow_compression  # noqa: F401  (registers the range-coding ops)

    from tfcomp.models.common import table_hash

    model = tf.saved_model.load(path)
    if table_hash(model.entropy_tables().numpy()) != table_sha256:
        raise TfcompError(f"{name}: entropy tables do not match its metadata (damaged model?)")
    return model


def rate_points(metadata: dict, refine: int = 0) -> list[LearnedCodec]:
    """Every rate point of a shipped model, smallest files first (a slimmable model's narrowest width, a
    variable-rate model's integer qualities, refined with `refine` steps)."""
    widths = metadata["config"].get("widths")
    if metadata.get("qualities"):
        low, high = metadata["qualities"]
        return [LearnedCodec(metadata["path"], quality=q, refine=refine) for q in range(int(low), int(high) + 1)]
    if not widths:
        return [LearnedCodec(metadata["path"])]
    return [LearnedCodec(metadata["path"], i) for i in reversed(range(len(widths)))]


def load(name: str | None = None, width: int | None = None, quality: float | None = None) -> LearnedCodec:
    """A shipped model by full name or architecture (its default; the CLI default when None), at a width
    for slimmable models ('NAME-w96' names one too) or a quality for variable-rate ones ('NAME-q3.5'); a
    variable-rate model's name may end in '-refine<steps>' ('NAME-q3.5-refine50')."""
    base, _, suffix = (name or "").rpartition("-refine")
    refine = 0
    if base and suffix.isdigit():
        name, refine = base, int(suffix)
    base, _, suffix = (name or "").rpartition("-q")
    if quality is None and base and _is_number(suffix) and _is_model(base):
        name, quality = base, float(suffix)
    base, _, suffix = (name or "").rpartition("-w")
    if width is None and base and suffix.isdigit() and _is_model(base):
        name, width = base, int(suffix)
    if quality is not None or refine:
        codec = LearnedCodec(zoo.resolve(name), quality=quality, refine=refine)
        if codec.quality_range is None:
            raise TfcompError(f"{codec.model_name} is not a variable-rate model: no '-refine' points")
        return codec
    codec = LearnedCodec(zoo.resolve(name))
    if width is None:
        return codec
    if not codec.widths or width not in codec.widths:
        raise TfcompError(f"{codec.model_name} has no width {width}"
                          + (f" (widths {codec.widths})" if codec.widths else " (not a slimmable model)"))
    return LearnedCodec(codec.path, codec.widths.index(width))


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _is_model(name: str) -> bool:
    try:
        zoo.resolve(name)
        return True
    except TfcompError:
        return False


def decode_file(data: bytes) -> tuple[np.ndarray, container.Container]:
    """Decodes any .tfc file with the shipped model named in its header."""
    c = container.unpack(data)
    return load_for_file(c).decode_container(c), c


def load_for_file(c: container.Container) -> LearnedCodec:
    """The shipped model (and width) a parsed file names; a clear error when it is not shipped."""
    try:
        path = zoo.resolve(c.model)
    except TfcompError:
        raise TfcompError(f"file needs model {c.model!r}, which is not installed") from None
    codec = LearnedCodec(path)
    if not codec.widths:
        return codec  # decode_container rejects any variant but 0 and takes the file's quality
    if not c.variant < len(codec.widths):
        raise TfcompError(f"corrupt tfcomp file (width index {c.variant} of a {len(codec.widths)}-width model)")
    codec.width_index = c.variant
    return codec
