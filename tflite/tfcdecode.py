#!/usr/bin/env python
"""Decodes tfcomp .tfc files with numpy and the TFLite runtime only: no TensorFlow, no tfc, no tfcomp.

Everything it does is specified in docs/FORMAT.md: the container, tfc's range decoder (reproduced bit for bit,
overflow escapes included), the exported tables and fixed-point parameter networks (NAME.json,
NAME.fixed.bin), and the TFLite synthesis transform (NAME.<mode>.tflite).

    python -m tflite.tfcdecode INPUT.tfc OUTPUT.png [--dir tflite] [--mode float32]
"""
from __future__ import annotations

import argparse
import bisect
import dataclasses
import glob
import hashlib
import json
import math
import os
import struct
import sys
import zlib

import numpy as np

MAGIC = b"TFCP"
HASH_BYTES = 16
MAX_SIDE, MAX_PIXELS, MAX_PARTS = 1 << 15, 1 << 28, 8
TAG_QUALITY, TAG_MODEL_VERSION, QUALITY_SCALE = 1, 2, 1000
FIELDS = {TAG_QUALITY: "quality", TAG_MODEL_VERSION: "model version"}  # optional header fields: tag -> name
M32 = 0xFFFFFFFF
# Zero bytes a decoder may read past the end of a string: tfc's encoder omits at most 4 + 2 * (pending carries)
# trailing zeros, and a carry chain of 16 renormalizations does not occur in practice (see docs/FORMAT.md).
MAX_OVERREAD = 36
# Elias-gamma prefix length: tfc's encoder writes at most 30 zeros for an int32 value.
MAX_GAMMA_BITS = 30
ACTIVATION_BITS, WEIGHT_BITS = 10, 14
# Images above TILE_PIXELS are synthesized in tiles of TILE latents with MARGIN latents of context on every
# side (more than the synthesis transforms' reach of 2 latents), so memory stays bounded and there is no seam;
# tfcomp decompress does the same (tfcomp/codecs/tiling.py). Larger than MAX_DECODE_PIXELS is refused unless
# the caller allows it (max_pixels).
TILE, MARGIN, TILE_PIXELS = 64, 4, 1 << 22
MAX_DECODE_PIXELS = 1 << 26
ACTIVATION_LIMIT = float(1 << 20)  # |fixed-point activation| <= 2**20 (1024 in value units)


class DecodeError(ValueError):
    """A file this decoder refuses: corrupt, truncated, or made by a model it has no tables for."""


# ---------------------------------------------------------------------------------------------------------
# The container (docs/FORMAT.md, "The .tfc container").


@dataclasses.dataclass(frozen=True)
class Container:
    """The fields of a .tfc file."""

    model: str
    table_hash: bytes
    height: int
    width: int
    channels: int
    variant: int
    latent_shapes: tuple[tuple[int, int], ...]
    strings: tuple[bytes, ...]
    quality: float | None
    model_version: int = 1  # absent from the header: version 1


def _need(data: bytes, end: int, what: str) -> None:
    if len(data) < end:
        raise DecodeError(f"truncated tfcomp file (ends inside the {what})")


def parse_container(data: bytes) -> Container:
    """Parses and validates a .tfc file's container (every field checked against the file size first)."""
    if data[:4] != MAGIC:
        raise DecodeError("not a tfcomp file (bad magic bytes)")
    _need(data, 6, "header")
    version, name_length = data[4], data[5]
    if version not in (1, 2):
        raise DecodeError(f"unsupported tfcomp format version {version} (this decoder reads 1, 2)")
    offset = 6
    _need(data, offset + name_length + HASH_BYTES + 11, "header")
    try:
        model = data[offset:offset + name_length].decode("ascii")
    except UnicodeDecodeError:
        raise DecodeError("corrupt tfcomp file (model name is not ASCII)") from None
    offset += name_length
    table_hash = data[offset:offset + HASH_BYTES]
    height, width, channels, variant, parts = struct.unpack_from(">IIBBB", data, offset + HASH_BYTES)
    offset += HASH_BYTES + 11
    if not (0 < height <= MAX_SIDE and 0 < width <= MAX_SIDE and height * width <= MAX_PIXELS):
        raise DecodeError(f"corrupt tfcomp file (absurd image size {height}x{width})")
    if channels not in (1, 3) or not 0 < parts <= MAX_PARTS:
        raise DecodeError("corrupt tfcomp file (bad channel or part count)")
    fields = {}
    if version == 2:
        _need(data, offset + 1, "header fields")
        count, offset = data[offset], offset + 1
        for _ in range(count):
            _need(data, offset + 2, "header fields")
            tag, length = data[offset], data[offset + 1]
            offset += 2
            _need(data, offset + length, "header fields")
            if tag not in FIELDS:
                raise DecodeError(f"tfcomp file uses header field {tag}, which this decoder does not know")
            if length != 2 or tag in fields:
                raise DecodeError(f"corrupt tfcomp file (bad {FIELDS[tag]} field)")
            (value,) = struct.unpack_from(">H", data, offset)
            if value == 0 or (tag == TAG_MODEL_VERSION and value == 1):
                raise DecodeError(f"corrupt tfcomp file ({FIELDS[tag]} {value})")
            fields[tag], offset = value, offset + length
    quality = fields[TAG_QUALITY] / QUALITY_SCALE if TAG_QUALITY in fields else None
    _need(data, offset + 8 * parts, "part table")
    table = [struct.unpack_from(">HHI", data, offset + 8 * i) for i in range(parts)]
    offset += 8 * parts
    end = offset + sum(length for _, _, length in table) + 4
    _need(data, end, "coded data")
    if end != len(data):
        raise DecodeError("corrupt tfcomp file (trailing bytes after the checksum)")
    if zlib.crc32(data[:-4]) != struct.unpack_from(">I", data, len(data) - 4)[0]:
        raise DecodeError("corrupt tfcomp file (checksum mismatch)")
    strings = []
    for _, _, length in table:
        strings.append(data[offset:offset + length])
        offset += length
    return Container(model, table_hash, height, width, channels, variant,
                     tuple((h, w) for h, w, _ in table), tuple(strings), quality, fields.get(TAG_MODEL_VERSION, 1))


# ---------------------------------------------------------------------------------------------------------
# tfc's range decoder (tensorflow_compression/cc/lib/range_coder.h, cc/kernels/range_coder_kernels.cc).


@dataclasses.dataclass(frozen=True)
class Table:
    """One CDF row of a lookup table: precision, CDF (cdf[0] = 0 ... cdf[-1] = 2**precision) and whether
    its last symbol escapes to the Elias-gamma overflow code."""

    precision: int
    cdf: list[int]
    overflow: bool


def scan_tables(lookup: list[int]) -> list[Table]:
    """Splits a flat lookup vector into its rows exactly as tfc's ScanCDF does: each row is a precision p
    (negative: overflow on), then a CDF from 0 up to its first 2**|p|; repeats of 2**|p| are padding."""
    tables, i, n = [], 0, len(lookup)
    while i < n:
        if i + 3 > n:
            raise DecodeError("corrupt tables (CDF ended prematurely)")
        precision = abs(lookup[i])
        if not 1 <= precision <= 16:
            raise DecodeError(f"corrupt tables (precision {lookup[i]})")
        last = 1 << precision
        if lookup[i + 1] != 0:
            raise DecodeError("corrupt tables (CDF must start with 0)")
        j = i + 1
        while lookup[j] != last:
            j += 1
            if j == n:
                raise DecodeError("corrupt tables (CDF must end with 1 << precision)")
            if lookup[j] < lookup[j - 1]:
                raise DecodeError("corrupt tables (CDF must be monotonically increasing)")
        tables.append(Table(precision, list(lookup[i + 1:j + 1]), lookup[i] < 0))
        i = j + 1
        while i < n and lookup[i] == last:
            i += 1
    return tables


BIT = Table(1, [0, 1, 2], False)  # the escape code's bits


class RangeDecoder:
    """tfc's RangeDecoder over one string, with EntropyDecodeChannel/Index's overflow decoding on top."""

    def __init__(self, data: bytes):
        self.data = bytes(data) + bytes(MAX_OVERREAD + 4)  # implicit trailing zeros
        self.end = len(data)
        self.base, self.size_minus1 = 0, M32
        self.value = int.from_bytes(self.data[:4], "big")
        self.position = 4  # bytes read, zeros past the end included

    def decode(self, rows: list[Table]) -> np.ndarray:
        """Decodes one value per row, in order: the CDF index, or for an overflow row its escaped value."""
        data, end = self.data, self.end
        base, size_minus1, value, position = self.base, self.size_minus1, self.value, self.position
        out = [0] * len(rows)
        for i, row in enumerate(rows):
            precision, cdf = row.precision, row.cdf
            size = size_minus1 + 1
            target = (((value - base) & M32) + 1) << precision
            k = bisect.bisect_left(cdf, -(-target // size), 1)  # the first k with size * cdf[k] >= target
            a = (size * cdf[k - 1]) >> precision
            base = (base + a) & M32
            size_minus1 = ((size * cdf[k]) >> precision) - 1 - a
            if size_minus1 < 0x10000:
                base, size_minus1 = (base << 16) & M32, (size_minus1 << 16) | 0xFFFF
                value = ((value << 16) & M32) | (data[position] << 8) | data[position + 1]
                position += 2
                if position > end + MAX_OVERREAD:
                    raise DecodeError("corrupt tfcomp file (range decoder ran past the end of its string)")
            symbol = k - 1
            if row.overflow and symbol == len(cdf) - 2:
                self.base, self.size_minus1, self.value, self.position = base, size_minus1, value, position
                symbol = self._escaped(symbol)
                base, size_minus1, value, position = self.base, self.size_minus1, self.value, self.position
            out[i] = symbol
        self.base, self.size_minus1, self.value, self.position = base, size_minus1, value, position
        return np.array(out, np.int64)

    def _bit(self) -> int:
        """One bit under the binary uniform CDF [0, 1, 2] at precision 1."""
        return int(self.decode([BIT])[0])

    def _escaped(self, max_value: int) -> int:
        """The value behind an escape symbol: Elias-gamma magnitude, then a sign bit (OverflowDecode)."""
        n = 0
        while self._bit() == 0:
            n += 1
            if n > MAX_GAMMA_BITS:
                raise DecodeError("corrupt tfcomp file (overflow code too long)")
        value = 1 << n
        for shift in range(n - 1, -1, -1):
            value |= self._bit() << shift
        return -value if self._bit() else value + max_value - 1

    def finish(self) -> None:
        """tfc's EntropyDecodeFinalize sanity check: every byte read, and the final value where the encoder
        put it; raises DecodeError otherwise."""
        ok = self.position >= self.end
        if ok:
            base, upper = self.base, (self.base + self.size_minus1) & M32
            if base == 0 or upper < base:
                ok = self.value == 0
            else:
                shift = 24 if ((base - 1) >> 24) < (upper >> 24) else 16
                ok = ((((base - 1) >> shift) + 1) << shift) & M32 == self.value
        if not ok:
            raise DecodeError("corrupt tfcomp file (range decoding failed)")


def decode_channels(decoder: RangeDecoder, tables: list[Table], shape: tuple[int, int]) -> np.ndarray:
    """EntropyDecodeChannel: (h, w, C) indexes, element (y, x, c) read with table c, in row-major order."""
    return decoder.decode(tables * (shape[0] * shape[1])).reshape(*shape, len(tables))


def decode_indexed(decoder: RangeDecoder, tables: list[Table], indexes: np.ndarray) -> np.ndarray:
    """EntropyDecodeIndex: one value per element of `indexes`, read with table indexes[...], row-major."""
    return decoder.decode([tables[i] for i in indexes.ravel().tolist()]).reshape(indexes.shape)


def _int32(symbols: np.ndarray) -> np.ndarray:
    """Symbols as int32, refusing values tfc's int32 arithmetic could not have produced."""
    if symbols.size and (symbols.min() < -(1 << 31) or symbols.max() >= 1 << 31):
        raise DecodeError("corrupt tfcomp file (decoded value out of int32 range)")
    return symbols.astype(np.int32)


# ---------------------------------------------------------------------------------------------------------
# Fixed-point parameter networks (tfcomp/layers/exact.py): integers held exactly in float64.


@dataclasses.dataclass(frozen=True)
class FixedLayer:
    """A stride-1 'same' convolution with integer weights, then depth_to_space, ReLU and the clip."""

    kernel: np.ndarray  # (k, k, in, out), round(w * 2**14), float64
    bias: np.ndarray  # (out,), round(b * 2**24), float64
    upsample: int
    relu: bool


def to_fixed_point(x: np.ndarray) -> np.ndarray:
    """Values as clipped fixed-point integers: round half to even of x * 2**10 (float64), within +-2**20."""
    return np.clip(np.round(x.astype(np.float64) * (1 << ACTIVATION_BITS)), -ACTIVATION_LIMIT, ACTIVATION_LIMIT)


def run_fixed(layers: list[FixedLayer], u: np.ndarray) -> np.ndarray:
    """A fixed-point network on (h, w, C) integers. Every partial sum is an integer below 2**52 (the export
    checks the bound), so float64 products and sums are exact in any order, like int64 arithmetic."""
    for layer in layers:
        k, (h, w, _) = layer.kernel.shape[0], u.shape
        padded = np.pad(u, ((k // 2, k // 2), (k // 2, k // 2), (0, 0)))
        sums = np.broadcast_to(layer.bias, (h, w, layer.bias.size)).copy()
        for dy in range(k):
            for dx in range(k):
                sums += padded[dy:dy + h, dx:dx + w] @ layer.kernel[dy, dx]
        u = np.floor(sums * 2.0 ** -WEIGHT_BITS + 0.5)
        if layer.upsample > 1:
            r = layer.upsample
            u = u.reshape(h, w, r, r, -1).transpose(0, 2, 1, 3, 4).reshape(h * r, w * r, -1)
        if layer.relu:
            u = np.maximum(u, 0.0)
        u = np.clip(u, -ACTIVATION_LIMIT, ACTIVATION_LIMIT)
    return u


def scale_indexes(u: np.ndarray, count: int) -> np.ndarray:
    """Fixed-point outputs rounded half up to table indexes 0..count-1."""
    return np.clip(np.floor(u * 2.0 ** -ACTIVATION_BITS + 0.5), 0, count - 1).astype(np.int64)


# ---------------------------------------------------------------------------------------------------------
# An exported model: NAME.json (+ NAME.fixed.bin) and NAME.<mode>.tflite.


def _sha256_int32(*arrays) -> str:
    return hashlib.sha256(b"".join(np.asarray(a, "<i4").tobytes() for a in arrays)).hexdigest()


class PortableModel:
    """One exported model (one width of a slimmable model): its tables, networks and TFLite synthesis."""

    def __init__(self, manifest_path: str):
        self.directory = os.path.dirname(os.path.abspath(manifest_path))
        with open(manifest_path) as f:
            self.manifest = json.load(f)
        decoder = self.manifest.get("decoder")
        if decoder is None:
            raise DecodeError(f"{manifest_path} predates the portable decoder: re-export it (tfcomp export tflite)")
        if not decoder.get("portable"):
            raise DecodeError(f"{self.manifest['name']} cannot be decoded portably: {decoder.get('reason')}")
        self.architecture = decoder["architecture"]
        entropy = self.manifest["entropy"]
        self.tables, self.cdf_offset = scan_tables(entropy["cdf"]), np.array(entropy["cdf_offset"], np.int64)
        hashed = [entropy["cdf"], entropy["cdf_offset"]]
        self.offset = np.array(entropy.get("quantization_offset") or 0.0, np.float32)
        side = decoder.get("side_entropy")
        if side is not None:
            self.side_tables, self.side_cdf_offset = scan_tables(side["cdf"]), np.array(side["cdf_offset"], np.int64)
            self.side_offset = np.array(side["quantization_offset"] or 0.0, np.float32)
            hashed += [side["cdf"], side["cdf_offset"]]
        self.networks = {}
        if "networks" in decoder:
            blob = self._read(decoder["networks"])
            hashed.append(np.frombuffer(blob, "<i4"))
            self.networks = {"hyper_synthesis": self._layers(blob, decoder["networks"]["hyper_synthesis"])}
            self.networks["slices"] = [self._layers(blob, s) for s in decoder["networks"].get("slices", [])]
        if _sha256_int32(*hashed) != decoder["tables_sha256"]:
            raise DecodeError(f"{manifest_path}: tables or networks do not match their sha256 (damaged export?)")
        if len(self.tables) != len(self.cdf_offset) or (side and len(self.side_tables) != len(self.side_cdf_offset)):
            raise DecodeError(f"{manifest_path}: as many CDF offsets as tables expected")
        self.runners: dict = {}

    def _read(self, spec: dict) -> bytes:
        with open(os.path.join(self.directory, spec["file"]), "rb") as f:
            blob = f.read()
        if len(blob) != spec["bytes"] or hashlib.sha256(blob).hexdigest() != spec["sha256"]:
            raise DecodeError(f"{spec['file']}: does not match its sha256 in the manifest")
        return blob

    @staticmethod
    def _layers(blob: bytes, specs: list[dict]) -> list[FixedLayer]:
        layers = []
        for spec in specs:
            shape = spec["kernel_shape"]
            kernel = np.frombuffer(blob, "<f4", math.prod(shape), spec["kernel_offset"]).reshape(shape)
            bias = np.frombuffer(blob, "<f4", shape[3], spec["bias_offset"])
            layers.append(FixedLayer(np.round(kernel.astype(np.float64) * 2.0 ** WEIGHT_BITS),
                                     np.round(bias.astype(np.float64) * 2.0 ** (WEIGHT_BITS + ACTIVATION_BITS)),
                                     spec["upsample"], spec["relu"]))
        return layers

    def check(self, c: Container) -> None:
        """Refuses a file this model did not write, or whose header contradicts it."""
        manifest = self.manifest
        if c.model != manifest["model"]:
            raise DecodeError(f"file was made by model {c.model!r}, not {manifest['model']!r}")
        if c.model_version != manifest.get("version", 1):
            raise DecodeError(f"file needs {c.model} version {c.model_version}; these tables are version "
                              f"{manifest.get('version', 1)}")
        if c.variant != (manifest.get("width_index") or 0):
            raise DecodeError(f"file was made at variant {c.variant}, not {manifest.get('width_index') or 0}")
        if c.table_hash != bytes.fromhex(manifest["entropy_table_sha256"])[:HASH_BYTES]:
            raise DecodeError(f"file's entropy-table hash does not match {manifest['name']} (different version?)")
        strides = manifest["decoder"]["latent_strides"]
        if c.latent_shapes != tuple((-(-c.height // s), -(-c.width // s)) for s in strides):
            raise DecodeError("corrupt tfcomp file (latent shape does not match image size)")
        qualities = manifest["decoder"].get("qualities")
        if (c.quality is None) != (qualities is None):
            raise DecodeError("corrupt tfcomp file (quality field " + (
                "missing for a variable-rate model)" if c.quality is None else "on a fixed-rate model)"))
        if qualities and not qualities[0] <= c.quality <= qualities[1]:
            raise DecodeError(f"quality must be {qualities[0]}..{qualities[1]} for {manifest['model']}")

    def _side(self, c: Container) -> np.ndarray:
        """The hyper-latents z_hat (1, hz, wz, Cz) float32 of a hyperprior file's part 1."""
        decoder = RangeDecoder(c.strings[1])
        symbols = decode_channels(decoder, self.side_tables, c.latent_shapes[1]) + self.side_cdf_offset
        decoder.finish()
        return _int32(symbols).astype(np.float32)[None] + self.side_offset

    def latents(self, c: Container) -> tuple[np.ndarray, np.ndarray]:
        """(y_hat exactly as tfc's entropy_decode returns it, the synthesis network's input), (1, h, w, C)."""
        h, w = c.latent_shapes[0]
        if self.architecture in ("bls2017", "slimcae"):
            decoder = RangeDecoder(c.strings[0])
            symbols = _int32(decode_channels(decoder, self.tables, (h, w)) + self.cdf_offset).astype(np.float32)[None]
            decoder.finish()
            return symbols + self.offset, symbols  # the TFLite model adds the offset itself
        features = run_fixed(self.networks["hyper_synthesis"], to_fixed_point(self._side(c)[0]))[:h, :w]
        decoder = RangeDecoder(c.strings[0])
        if self.architecture == "bmshj2018":
            indexes = scale_indexes(features, len(self.tables))
            y_hat = _int32(decode_indexed(decoder, self.tables, indexes) + self.cdf_offset[indexes])
            decoder.finish()
            return y_hat.astype(np.float32)[None], y_hat.astype(np.float32)[None]
        slices = []  # ms2020vr: slice after slice, each predicted from the features and the slices before it
        for network in self.networks["slices"]:
            params = run_fixed(network, np.concatenate([features, *map(to_fixed_point, slices)], -1))
            mean_u, scale_u = np.split(params, 2, -1)
            indexes = scale_indexes(scale_u, len(self.tables))
            symbols = _int32(decode_indexed(decoder, self.tables, indexes) + self.cdf_offset[indexes])
            slices.append(symbols.astype(np.float32) + (mean_u * 2.0 ** -ACTIVATION_BITS).astype(np.float32))
        decoder.finish()
        y_hat = np.concatenate(slices, -1)[None]
        return y_hat, y_hat * self.inverse_gain(c.quality)

    def inverse_gain(self, quality: float) -> np.ndarray:
        """The quality's inverse gain per channel: exp of the log table interpolated between levels (float32)."""
        table = np.array(self.manifest["decoder"]["log_inverse_gain"], np.float32)
        level = np.clip(np.float32(quality) - np.float32(1.0), np.float32(0), np.float32(len(table) - 1))
        lower = min(int(np.floor(level)), len(table) - 2)
        weight = np.float32(level - np.float32(lower))
        return np.exp((np.float32(1.0) - weight) * table[lower] + weight * table[lower + 1])

    def synthesize(self, inputs: np.ndarray, mode: str = "float32", threads: int | None = None) -> np.ndarray:
        """The TFLite synthesis of one mode: float pixels (1, 16h, 16w, 3), already clamped to 0..255."""
        if mode not in self.manifest["files"]:
            known = ", ".join(self.manifest["files"])
            raise DecodeError(f"{self.manifest['name']} has no {mode} TFLite file (has {known})")
        runner = self.runners.get(mode)
        if runner is None:
            path = os.path.join(self.directory, self.manifest["files"][mode]["file"])
            runner = self.runners[mode] = [_interpreter(path, threads or os.cpu_count() or 1), None]
        interpreter, shape = runner
        source, target = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
        if shape != inputs.shape:
            interpreter.resize_tensor_input(source["index"], inputs.shape, strict=True)
            interpreter.allocate_tensors()
            runner[1] = inputs.shape
        if source["dtype"] == np.int8:
            inputs = np.clip(inputs, -128, 127)
        interpreter.set_tensor(source["index"], inputs.astype(source["dtype"]))
        interpreter.invoke()
        out = interpreter.get_tensor(target["index"])
        scale, zero_point = target["quantization"]
        return (out.astype(np.float32) - zero_point) * scale if scale else out.astype(np.float32)


def _interpreter(path: str, threads: int):
    """A TFLite interpreter from the standalone runtime (ai-edge-litert, or the older tflite-runtime); inside a
    TensorFlow installation (tfcomp's tests) TensorFlow's own interpreter serves."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        try:
            from tflite_runtime.interpreter import Interpreter
        except ImportError:
            try:
                import tensorflow

                Interpreter = tensorflow.lite.Interpreter
            except ImportError:
                raise DecodeError("no TFLite runtime: pip install ai-edge-litert") from None
    return Interpreter(model_path=path, num_threads=threads)


def find_model(directory: str, c: Container) -> PortableModel:
    """The exported model a file names: NAME.json, or for a slimmable model the NAME-w*.json of its width."""
    path = os.path.join(directory, f"{c.model}.json")
    candidates = [path] if os.path.exists(path) else sorted(glob.glob(os.path.join(glob.escape(directory),
                                                                                    glob.escape(c.model) + "-w*.json")))
    for candidate in candidates:
        with open(candidate) as f:
            manifest = json.load(f)
        if manifest.get("model") == c.model and (manifest.get("width_index") or 0) == c.variant:
            model = PortableModel(candidate)
            model.check(c)
            return model
    raise DecodeError(f"file needs model {c.model!r}" + (f" at width index {c.variant}" if c.variant else "")
                      + f", which has no export in {directory}")


def decode(data: bytes, directory: str, mode: str = "float32", threads: int | None = None,
           model: PortableModel | None = None, max_pixels: int = MAX_DECODE_PIXELS) -> tuple[np.ndarray, Container]:
    """A .tfc file's image, (H, W, 3) uint8, and its container; DecodeError names what is wrong with a file."""
    c = parse_container(data)
    if c.height * c.width > max_pixels:
        raise DecodeError(f"image of {c.height}x{c.width} pixels is above this decoder's limit of {max_pixels:,} "
                          "pixels (raise it with --max-pixels)")
    if model is None:
        model = find_model(directory, c)
    else:
        model.check(c)
    _, inputs = model.latents(c)
    stride = model.manifest["decoder"]["latent_strides"][0]
    tile = TILE if c.height * c.width > TILE_PIXELS else max(inputs.shape[1:3])
    image = np.empty((c.height, c.width, 3), np.uint8)
    rows, cols = inputs.shape[1:3]
    for top in range(0, rows, tile):
        for left in range(0, cols, tile):
            top_m, left_m = max(0, top - MARGIN), max(0, left - MARGIN)
            crop = inputs[:, top_m:min(rows, top + tile + MARGIN), left_m:min(cols, left + tile + MARGIN)]
            pixels = model.synthesize(crop, mode, threads)[0, (top - top_m) * stride:, (left - left_m) * stride:]
            height, width = min(c.height - top * stride, tile * stride), min(c.width - left * stride, tile * stride)
            image[top * stride:top * stride + height, left * stride:left * stride + width] = \
                np.clip(np.round(pixels[:height, :width]), 0, 255)
    return image, c


def main(argv: list[str] | None = None) -> int:
    """Command line: INPUT.tfc OUTPUT.png; one 'tfcdecode: error:' line and exit code 2 for a bad file."""
    parser = argparse.ArgumentParser(prog="tfcdecode", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input", help=".tfc file")
    parser.add_argument("output", help="image to write (PNG, or any lossless format Pillow writes)")
    parser.add_argument("--dir", default=os.path.dirname(os.path.abspath(__file__)),
                        help="folder with the exported NAME.json, NAME.fixed.bin and NAME.<mode>.tflite "
                             "(default: this module's folder)")
    parser.add_argument("--mode", default="float32", help="which TFLite synthesis to run (default: float32)")
    parser.add_argument("--threads", type=int, default=None, help="TFLite threads (default: every core)")
    parser.add_argument("--max-pixels", type=int, default=MAX_DECODE_PIXELS,
                        help=f"refuse larger images (default: {MAX_DECODE_PIXELS:,}; the format allows {MAX_PIXELS:,})")
    args = parser.parse_args(argv)
    try:
        with open(args.input, "rb") as f:
            image, c = decode(f.read(), args.dir, args.mode, args.threads, max_pixels=args.max_pixels)
        from PIL import Image

        picture = Image.fromarray(image, "RGB")
        (picture.convert("L") if c.channels == 1 else picture).save(args.output)
    except (DecodeError, OSError) as error:
        print(f"tfcdecode: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
