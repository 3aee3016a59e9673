"""The .tfc container: round trip and every malformed-input case fails with TfcompError."""
import struct
import zlib

import pytest

from tfcomp.codecs import container
from tfcomp.errors import TfcompError

SAMPLE = container.Container(model="bls2017-test", table_hash=bytes(range(16)), height=512, width=768,
                             channels=3, variant=0, latent_shapes=((32, 48),), strings=(b"\x01\x02\x03" * 50,))


def reseal(data: bytes) -> bytes:
    """Recomputes the checksum, so a test reaches the checks behind it."""
    body = data[:-4]
    return body + struct.pack(">I", zlib.crc32(body))


def test_round_trip():
    assert container.unpack(container.pack(SAMPLE)) == SAMPLE


def test_layout_matches_docs_format():
    data = container.pack(SAMPLE)
    assert data[:4] == b"TFCP" and data[4] == container.VERSION and data[5] == len("bls2017-test")
    assert data[6:18] == b"bls2017-test" and data[18:34] == bytes(range(16))
    assert struct.unpack(">IIBBB", data[34:45]) == (512, 768, 3, 0, 1)
    assert struct.unpack(">HHI", data[45:53]) == (32, 48, 150)
    assert len(data) == 53 + 150 + 4


def test_every_truncation_is_rejected():
    data = container.pack(SAMPLE)
    for n in range(len(data)):
        with pytest.raises(TfcompError):
            container.unpack(data[:n])


def test_every_single_bit_flip_is_rejected():
    data = container.pack(SAMPLE)
    for i in range(len(data)):
        flipped = bytearray(data)
        flipped[i] ^= 0x10
        with pytest.raises(TfcompError):
            container.unpack(bytes(flipped))


@pytest.mark.parametrize("offset,value,message", [
    (4, b"\x07", "version"),
    (34, struct.pack(">I", 0), "absurd image size"),
    (34, struct.pack(">I", 1 << 20), "absurd image size"),
    (42, b"\x02", "channel"),
    (44, b"\x00", "part count"),
])
def test_bad_header_fields(offset, value, message):
    data = bytearray(container.pack(SAMPLE))
    data[offset:offset + len(value)] = value
    with pytest.raises(TfcompError, match=message):
        container.unpack(reseal(bytes(data)))


def test_huge_declared_string_length_fails_before_allocating():
    data = bytearray(container.pack(SAMPLE))
    data[49:53] = struct.pack(">I", 0xFFFFFFF0)
    with pytest.raises(TfcompError, match="truncated"):
        container.unpack(reseal(bytes(data)))


def test_trailing_bytes_and_bad_magic():
    with pytest.raises(TfcompError, match="trailing"):
        container.unpack(reseal(container.pack(SAMPLE)[:-4] + b"xx" + b"\0\0\0\0"))
    with pytest.raises(TfcompError, match="not a tfcomp file"):
        container.unpack(b"\x89PNG\r\n\x1a\n" + bytes(100))


def test_model_version_field():
    """Version 1 is implied (its files keep format 1's bytes); any other version is header field 2."""
    import dataclasses

    assert container.pack(SAMPLE)[4] == 1 and container.unpack(container.pack(SAMPLE)).model_version == 1
    second = dataclasses.replace(SAMPLE, model_version=2, quality=4.5)
    data = container.pack(second)
    assert data[4] == 2 and container.unpack(data) == second
    # After the part count: 2 fields, quality (tag 1) 4500, model version (tag 2) 2.
    assert data[45:54] == bytes([2, 1, 2]) + struct.pack(">H", 4500) + bytes([2, 2]) + struct.pack(">H", 2)
    for value, message in ((0, "model version 0"), (1, "model version 1")):
        with pytest.raises(TfcompError, match=message):
            container.unpack(reseal(data[:52] + struct.pack(">H", value) + data[54:]))
    with pytest.raises(TfcompError, match="header field 3"):
        container.unpack(reseal(data[:50] + bytes([3]) + data[51:]))
