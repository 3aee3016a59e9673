"""Reading images into uint8 RGB arrays (with notes on conversions) and writing them atomically."""
from __future__ import annotations

import glob
import io
import os
import stat
import tempfile
import threading

import numpy as np
from PIL import Image, UnidentifiedImageError

from tfcomp.errors import TfcompError

# Decompression bombs: refuse anything above this many pixels before decoding it.
MAX_PIXELS = 1 << 28
# Pillow's own bomb check stops at about 179 megapixels; ours (max_pixels) is the one that applies.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS
LOSSLESS_OUTPUTS = {".png": "PNG", ".ppm": "PPM", ".bmp": "BMP", ".tif": "TIFF", ".tiff": "TIFF"}
# What a folder of training or test images may hold.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".webp")


def list_images(pattern: str) -> list[str]:
    """Image files in a folder, or matching a glob; sorted, never empty."""
    if os.path.isdir(pattern):
        files = [os.path.join(pattern, f) for f in os.listdir(pattern)]
    else:
        files = glob.glob(pattern)
    files = sorted(f for f in files if f.lower().endswith(IMAGE_SUFFIXES))
    if not files:
        raise TfcompError(f"no images found at {pattern!r}")
    return files


def to_rgb(image: Image.Image) -> tuple[np.ndarray, list[str]]:
    """Converts any Pillow mode to uint8 RGB; returns the array and one note per lossy conversion."""
    notes = []
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        notes.append(f"{mode} samples scaled to 8 bits")
        values = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if mode.startswith("I") and values.max(initial=0) > 255 else 255.0
        image = Image.fromarray(np.clip(np.round(values * 255.0 / peak), 0, 255).astype(np.uint8), "L")
        mode = "L"
    if mode in ("L", "1"):
        notes.append("grayscale input coded as RGB (output restored to grayscale)")
    elif mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in image.info):
        notes.append("alpha channel dropped: tfcomp codes colour only")
    elif mode == "CMYK":
        notes.append("CMYK converted to RGB")
    return np.asarray(image.convert("RGB"), dtype=np.uint8), notes


def read_image(path: str, max_pixels: int = MAX_PIXELS) -> tuple[np.ndarray, bool, list[str]]:
    """Image file -> (uint8 RGB array, was-grayscale flag, conversion notes); TfcompError if unusable or
    larger than max_pixels."""
    try:
        with Image.open(path) as image:
            if image.width * image.height > max_pixels:
                raise TfcompError(f"{path}: {image.width}x{image.height} is too large (limit {max_pixels} pixels; "
                                  "see --max-pixels)")
            image.load()
            grayscale = image.mode in ("L", "1", "I;16", "I;16B", "I;16L", "I", "F")
            array, notes = to_rgb(image)
    except FileNotFoundError:
        raise TfcompError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise TfcompError(f"{path}: is a directory") from None
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as error:
        raise TfcompError(f"{path}: not a readable image ({type(error).__name__})") from None
    if array.shape[0] < 1 or array.shape[1] < 1:
        raise TfcompError(f"{path}: empty image")
    return array, grayscale, notes


def is_complete_image(path: str) -> bool:
    """Whether an image file reads to its end (a PNG's chunks and checksums all present)."""
    try:
        with Image.open(path) as image:
            image.load()
        return True
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return False


def image_bytes(array: np.ndarray, fmt: str = "PNG", grayscale: bool = False) -> bytes:
    """Encodes a uint8 RGB array losslessly in memory."""
    image = Image.fromarray(array, "RGB")
    if grayscale:
        image = image.convert("L")
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def output_format(path: str) -> str:
    """The lossless Pillow format implied by an output file name."""
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in LOSSLESS_OUTPUTS:
        raise TfcompError(f"{path}: output must end in one of {', '.join(sorted(LOSSLESS_OUTPUTS))}")
    return LOSSLESS_OUTPUTS[suffix]


def check_writable(path: str, overwrite: bool = False) -> None:
    """Fails early when an output exists (and may not be replaced) or its folder is missing."""
    if os.path.exists(path) and not overwrite:
        raise TfcompError(f"{path}: already exists (use --force to overwrite)")
    if not os.path.isdir(os.path.dirname(os.path.abspath(path))):
        raise TfcompError(f"{path}: directory does not exist")


_UMASK_LOCK = threading.Lock()


def new_file_mode(path: str) -> int:
    """The mode a written file gets: the replaced file's, else 0666 less the umask (as cp and Pillow leave it)."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        with _UMASK_LOCK:  # reading the umask means setting it; batch workers write concurrently
            umask = os.umask(0o022)
            os.umask(umask)
        return 0o666 & ~umask


def atomic_write(path: str, data: bytes, overwrite: bool = False) -> None:
    """Writes bytes to a temporary file beside `path`, then renames it: no partial outputs. The file gets
    the usual permissions (new_file_mode), not mkstemp's owner-only 0600."""
    check_writable(path, overwrite)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tfcomp-", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            os.fchmod(f.fileno(), new_file_mode(path))
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def read_bytes(path: str) -> bytes:
    """A whole file's bytes; TfcompError when missing or unreadable."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise TfcompError(f"{path}: no such file") from None
    except OSError as error:
        raise TfcompError(f"{path}: cannot read ({error.strerror})") from None
