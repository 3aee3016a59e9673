"""Fuzzing the decoder: valid files of every shipped model, mutated, truncated and spliced, must each end in a
decoded image or one TfcompError (one `tfcomp: error:` line in the CLI), never another exception, a crash or
a hang. scripts/fuzz_decode.py runs a coverage-guided campaign with atheris through the CLI's sandboxed
decoder (check_in_worker); the test suite runs a short one with these mutations alone, in process (check).

Most mutations are followed by a recomputed CRC-32: without it the checksum refuses every edit and the
parser's later checks and the range decoder would never see one.
"""
from __future__ import annotations

import random
import re
import struct
import zlib

import numpy as np

from tfcomp.errors import TfcompError

# Seed images: small, so that each input decodes in milliseconds, and of two shapes, so that latent shapes
# and the hyper-latents' padding differ.
SEED_SIZES = ((64, 64), (48, 80))
# Decoding refuses images above this many pixels during fuzzing: decode time grows with the size a header
# declares (the range decoder reads that many symbols before its check fails), and the campaign measures
# the decoder, not the cost of legitimately large images.
FUZZ_MAX_PIXELS = 1 << 20


def seed_files(names: list[str] | None = None) -> dict[str, bytes]:
    """Valid files of every rate point of the named shipped models (all by default), at SEED_SIZES, cut from
    the bundled sample image: {'<rate point>-<height>x<width>': file}."""
    from tfcomp import zoo
    from tfcomp.codecs.learned import rate_points
    from tfcomp.data.images import read_image
    from tfcomp.samples import SAMPLE_IMAGE

    image = read_image(SAMPLE_IMAGE)[0]
    seeds = {}
    for metadata in zoo.list_models():
        if names is not None and metadata["name"] not in names:
            continue
        for codec in rate_points(metadata):
            for height, width in SEED_SIZES:
                seeds[f"{codec.name}-{height}x{width}"] = codec.encode(image[100:100 + height, 200:200 + width])
    return seeds


def fix_crc(data: bytes) -> bytes:
    """The bytes with their last four replaced by the CRC-32 of the rest, as a valid file has them."""
    if len(data) < 4:
        return data
    return data[:-4] + struct.pack(">I", zlib.crc32(data[:-4]))


def _header_end(data: bytes) -> int:
    """Where a two-part table would end (the header is where most checks are)."""
    return min(len(data), 6 + (data[5] if len(data) > 5 else 0) + 16 + 11 + 8 * 2)


# Edits and their weights: most keep the file's length, so that the parts' lengths still add up and the
# edit reaches the range decoder.
EDITS = {"flip": 35, "byte": 20, "insert": 8, "delete": 8, "truncate": 8, "splice": 8, "number": 13}


def mutate(data: bytes, rng: random.Random, others: list[bytes]) -> bytes:
    """One to four random edits of a file (EDITS: bit flips, byte overwrites, inserted or deleted runs,
    truncation, a splice with another file, a header-sized number set to an extreme), a third of them in the
    header; then, nine times in ten, a recomputed checksum."""
    out = bytearray(data)
    for kind in rng.choices(list(EDITS), list(EDITS.values()), k=rng.randint(1, 4)):
        where = rng.randrange(max(1, _header_end(out) if rng.random() < 0.3 else len(out)))
        if kind == "flip" and out:
            out[where % len(out)] ^= 1 << rng.randrange(8)
        elif kind == "byte" and out:
            out[where % len(out)] = rng.choice((0, 1, 0x7F, 0x80, 0xFF, rng.randrange(256)))
        elif kind == "insert":
            out[where:where] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
        elif kind == "delete":
            del out[where:where + rng.randint(1, 16)]
        elif kind == "truncate":
            del out[rng.randrange(len(out) + 1):]
        elif kind == "splice" and others:
            other = rng.choice(others)
            out = out[:rng.randrange(len(out) + 1)] + other[rng.randrange(len(other) + 1):]
        elif kind == "number" and len(out) >= where + 4:
            out[where:where + 4] = struct.pack(">I", rng.choice((0, 1, 0xFFFF, 0x10000, 0x7FFFFFFF, 0xFFFFFFFF)))
    return fix_crc(bytes(out)) if rng.random() < 0.9 else bytes(out)


def check(data: bytes, max_pixels: int = FUZZ_MAX_PIXELS) -> str:
    """Decodes one input as `tfcomp decompress` would: 'decoded' (an image of the header's size) or 'refused: '
    and the error with its numbers and quotes generalized. Any exception but TfcompError propagates: that is
    a finding."""
    from tfcomp import registry

    try:
        image, c = registry.decode_file(data, max_pixels=max_pixels)
    except TfcompError as error:
        return "refused: " + re.sub(r"\d+", "N", re.sub(r"'[^'\s]*'", "'...'", str(error)))
    if image.shape != (c.height, c.width, 3) or image.dtype != np.uint8:
        raise AssertionError(f"decoded {image.shape} {image.dtype} for a {c.height}x{c.width} file")
    return "decoded"


def check_in_worker(data: bytes, decoder, folder: str, max_pixels: int = FUZZ_MAX_PIXELS) -> str:
    """check() as `tfcomp decompress` does it: in a tfcomp.cli.sandbox worker with its deadline. 'decoded',
    'refused: ...', or 'stopped: ...' where the deadline ended the decoding; a dead worker raises (a finding)."""
    import os

    from PIL import Image

    from tfcomp.codecs import container

    source, output = os.path.join(folder, "input.tfc"), os.path.join(folder, "output.png")
    with open(source, "wb") as f:
        f.write(data)
    try:
        container.unpack(data)  # in this process too, where the fuzzer sees the parser's coverage
        decoder.decode(source, output, max_pixels, None, True)
    except TfcompError as error:
        message = str(error).replace(source + ": ", "")
        if "decoder died" in message:
            raise AssertionError(message) from None
        # Without a branch: an input the deadline stopped must not look new to a coverage-guided fuzzer, or it
        # joins the corpus, and its mutants, which mostly hang too, cost a worker restart each.
        kind = ("refused", "stopped")["did not finish" in message]
        return f"{kind}: " + re.sub(r"\d+", "N", re.sub(r"'[^'\s]*'", "'...'", message))
    c = container.unpack(data)
    with Image.open(output) as image:
        if image.size != (c.width, c.height):
            raise AssertionError(f"decoded {image.size} for a {c.width}x{c.height} file")
    return "decoded"
