"""The .tfc container: header, entropy-coded strings and a checksum (specified in docs/FORMAT.md).

Every field is validated against the file size before anything is allocated, so a corrupt or hostile
file fails with a one-line TfcompError instead of a traceback or a huge allocation.
"""
from __future__ import annotations

import dataclasses
import struct
import zlib

from tfcomp.errors import TfcompError

MAGIC = b"TFCP"
# Version 1 files have no optional fields; a writer uses version 2 only when a file has one.
VERSION = 1
VERSIONS = (1, 2)
HASH_BYTES = 16
MAX_SIDE = 1 << 15
MAX_PIXELS = 1 << 28
# What a decoder accepts unless told otherwise (--max-pixels, up to MAX_PIXELS): 67 megapixels, above the
# largest camera photos, and within a few GB when decoding.
DEFAULT_MAX_PIXELS = 1 << 26
MAX_PARTS = 8
_FIXED = struct.Struct(">4sBB")          # magic, version, model-name length
_IMAGE = struct.Struct(">IIBBB")         # height, width, channels, variant, number of parts
_PART = struct.Struct(">HHI")            # latent height, latent width, string length
_CRC = struct.Struct(">I")
# Version 2 adds, after the part count, a field count and per field: tag (u8), length (u8), payload.
_FIELD = struct.Struct(">BB")
TAG_QUALITY = 1  # u16: the quality a variable-rate model coded at, in thousandths (4.5 -> 4500)
TAG_MODEL_VERSION = 2  # u16: the version of the model that made the file; absent means version 1
QUALITY_SCALE = 1000
_U16 = struct.Struct(">H")
# The optional fields this reader knows: tag -> its name in errors. Both hold a u16 that is never 0 (and a
# version field never says 1: a version 1 model writes none).
_KNOWN_FIELDS = {TAG_QUALITY: "quality", TAG_MODEL_VERSION: "model version"}


@dataclasses.dataclass(frozen=True)
class Container:
    """The decoded contents of one .tfc file."""

    model: str
    table_hash: bytes
    height: int
    width: int
    channels: int
    variant: int
    latent_shapes: tuple[tuple[int, int], ...]
    strings: tuple[bytes, ...]
    quality: float | None = None  # variable-rate models: the quality coded at, a multiple of 1/QUALITY_SCALE
    model_version: int = 1  # the version of `model` that made the file (its identity is name + version)


def quantize_quality(quality: float) -> float:
    """The quality as a file records it (thousandths): encode with this value so the decoder uses the same."""
    return round(quality * QUALITY_SCALE) / QUALITY_SCALE


def _fields(c: Container) -> list[bytes]:
    """The optional fields of a version 2 header."""
    fields = []
    if c.quality is not None:
        steps = round(c.quality * QUALITY_SCALE)
        if not 0 < steps < 1 << 16:
            raise ValueError(f"quality {c.quality} out of the header's range")
        fields.append(_FIELD.pack(TAG_QUALITY, _U16.size) + _U16.pack(steps))
    if c.model_version != 1:  # version 1 is implied, so version 1 files keep their format-1 bytes
        if not 1 < c.model_version < 1 << 16:
            raise ValueError(f"model version {c.model_version} out of the header's range")
        fields.append(_FIELD.pack(TAG_MODEL_VERSION, _U16.size) + _U16.pack(c.model_version))
    return fields


def pack(c: Container) -> bytes:
    """Serializes a container; the inverse of unpack()."""
    name = c.model.encode("ascii")
    if not 0 < len(name) < 256:
        raise ValueError("model name must be 1..255 ASCII bytes")
    if len(c.table_hash) != HASH_BYTES or len(c.strings) != len(c.latent_shapes):
        raise ValueError("bad table hash or parts")
    fields = _fields(c)
    body = [_FIXED.pack(MAGIC, 2 if fields else 1, len(name)), name, c.table_hash,
            _IMAGE.pack(c.height, c.width, c.channels, c.variant, len(c.strings))]
    if fields:
        body += [bytes([len(fields)]), *fields]
    body += [_PART.pack(h, w, len(s)) for (h, w), s in zip(c.latent_shapes, c.strings)]
    body += list(c.strings)
    data = b"".join(body)
    return data + _CRC.pack(zlib.crc32(data))


def _need(data: bytes, end: int, what: str) -> None:
    if len(data) < end:
        raise TfcompError(f"truncated tfcomp file (ends inside the {what})")


def unpack(data: bytes) -> Container:
    """Parses and validates a container; raises TfcompError naming the first problem found."""
    if len(data) < 4 or data[:4] != MAGIC:
        raise TfcompError("not a tfcomp file (bad magic bytes)")
    _need(data, _FIXED.size, "header")
    _, version, name_length = _FIXED.unpack_from(data)
    if version not in VERSIONS:
        raise TfcompError(f"unsupported tfcomp format version {version} (this tfcomp reads "
                          f"{', '.join(map(str, VERSIONS))})")
    offset = _FIXED.size
    _need(data, offset + name_length + HASH_BYTES + _IMAGE.size, "header")
    try:
        model = data[offset:offset + name_length].decode("ascii")
    except UnicodeDecodeError:
        raise TfcompError("corrupt tfcomp file (model name is not ASCII)") from None
    offset += name_length
    table_hash = data[offset:offset + HASH_BYTES]
    offset += HASH_BYTES
    height, width, channels, variant, parts = _IMAGE.unpack_from(data, offset)
    offset += _IMAGE.size
    if not (0 < height <= MAX_SIDE and 0 < width <= MAX_SIDE and height * width <= MAX_PIXELS):
        raise TfcompError(f"corrupt tfcomp file (absurd image size {height}x{width})")
    if channels not in (1, 3) or not 0 < parts <= MAX_PARTS:
        raise TfcompError("corrupt tfcomp file (bad channel or part count)")
    fields: dict[int, int] = {}
    if version == 2:
        fields, offset = _read_fields(data, offset)
    _need(data, offset + parts * _PART.size, "part table")
    table = [_PART.unpack_from(data, offset + i * _PART.size) for i in range(parts)]
    offset += parts * _PART.size
    if offset + sum(length for _, _, length in table) + _CRC.size != len(data):
        _need(data, offset + sum(length for _, _, length in table) + _CRC.size, "coded data")
        raise TfcompError("corrupt tfcomp file (trailing bytes after the checksum)")
    (crc,) = _CRC.unpack_from(data, len(data) - _CRC.size)
    if zlib.crc32(data[:-_CRC.size]) != crc:
        raise TfcompError("corrupt tfcomp file (checksum mismatch)")
    strings = []
    for _, _, length in table:
        strings.append(data[offset:offset + length])
        offset += length
    quality = fields[TAG_QUALITY] / QUALITY_SCALE if TAG_QUALITY in fields else None
    return Container(model, table_hash, height, width, channels, variant,
                     tuple((h, w) for h, w, _ in table), tuple(strings), quality, fields.get(TAG_MODEL_VERSION, 1))


def _read_fields(data: bytes, offset: int) -> tuple[dict[int, int], int]:
    """({tag: u16 value}, offset after the fields) of a version 2 header."""
    _need(data, offset + 1, "header fields")
    count, offset, fields = data[offset], offset + 1, {}
    for _ in range(count):
        _need(data, offset + _FIELD.size, "header fields")
        tag, length = _FIELD.unpack_from(data, offset)
        offset += _FIELD.size
        _need(data, offset + length, "header fields")
        if tag not in _KNOWN_FIELDS:
            raise TfcompError(f"tfcomp file uses header field {tag}, which this tfcomp does not know (newer tfcomp?)")
        what = _KNOWN_FIELDS[tag]
        if length != _U16.size or tag in fields:
            raise TfcompError(f"corrupt tfcomp file (bad {what} field)")
        (value,) = _U16.unpack_from(data, offset)
        if value == 0 or (tag == TAG_MODEL_VERSION and value == 1):
            raise TfcompError(f"corrupt tfcomp file ({what} {value})")
        fields[tag], offset = value, offset + length
    return fields, offset
