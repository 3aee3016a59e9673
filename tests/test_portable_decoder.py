"""The portable decoder (tflite/tfcdecode.py): tfc's range coder reproduced bit for bit, files of the exported
models decoded to tfc's latents and to within one grey level of `tfcomp decompress`, without TensorFlow,
and corrupt files refused with one error each."""
import hashlib
import json
import os
import random
import struct
import subprocess
import sys
import time
import zlib

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_compression.python.ops import gen_ops

from conftest import REPO

sys.path.insert(0, REPO)  # tflite/ is a folder of files for apps, not an installed package
from tflite import tfcdecode  # noqa: E402
from tfcomp.codecs import learned  # noqa: E402
from tfcomp.data.images import read_image  # noqa: E402
from tfcomp.export import portable  # noqa: E402
from tfcomp.models.common import table_hash  # noqa: E402
from tfcomp.samples import SAMPLE_IMAGE  # noqa: E402

TFLITE = os.path.join(REPO, "tflite")


def random_lookup(rng: np.random.Generator, rows: int) -> list[int]:
    """A flat lookup vector as tfc lays it out: per row -precision (overflow on) or +precision, a CDF from 0 to
    2**precision, and sometimes repeats of 2**precision as padding."""
    lookup = []
    for _ in range(rows):
        precision = int(rng.integers(1, 17))
        symbols = int(rng.integers(1, min(40, 1 << precision)))
        cuts = sorted(rng.choice(np.arange(1, 1 << precision), symbols - 1, replace=False).tolist())
        lookup += [-precision if rng.random() < 0.6 else precision, 0, *cuts, 1 << precision]
        lookup += [1 << precision] * int(rng.integers(0, 3))
    return lookup


def tfc_encode(lookup: list[int], indexes: np.ndarray, values: np.ndarray) -> bytes:
    """One string from tfc's own range encoder (EntropyEncodeIndex)."""
    handle = gen_ops.create_range_encoder([1], tf.constant(lookup, tf.int32))
    handle = gen_ops.entropy_encode_index(handle, indexes[None].astype(np.int32), values[None].astype(np.int32))
    return gen_ops.entropy_encode_finalize(handle).numpy()[0]


def test_range_decoder_reproduces_tfc_including_overflow_escapes():
    rng = np.random.default_rng(0)
    escapes = 0
    for _ in range(60):
        lookup = random_lookup(rng, int(rng.integers(1, 6)))
        tables = tfcdecode.scan_tables(lookup)
        indexes = rng.integers(0, len(tables), int(rng.integers(0, 1500)))
        values = []
        for i in indexes:
            largest = len(tables[i].cdf) - 2  # the escape symbol of an overflow row
            value = int(rng.integers(0, largest + 1))
            if tables[i].overflow and rng.random() < 0.2:
                value = int(rng.integers(-(1 << 20), 1 << 20))
                escapes += value < 0 or value >= largest
            values.append(value)
        string = tfc_encode(lookup, indexes, np.array(values))
        decoder = tfcdecode.RangeDecoder(string)
        assert decoder.decode([tables[i] for i in indexes]).tolist() == values
        decoder.finish()
    assert escapes > 100


def test_scan_tables_reads_rows_as_tfc_and_refuses_broken_ones():
    tables = tfcdecode.scan_tables([-4, 0, 5, 16, 16, 16, 2, 0, 1, 3, 4])
    assert [(t.precision, t.cdf, t.overflow) for t in tables] == [(4, [0, 5, 16], True), (2, [0, 1, 3, 4], False)]
    for broken in ([12, 0, 5], [12, 1, 4096], [12, 0, 9, 5, 4096], [17, 0, 1 << 17], [0, 0, 1]):
        with pytest.raises(tfcdecode.DecodeError):
            tfcdecode.scan_tables(broken)


def test_finish_refuses_a_string_decoded_with_other_tables():
    lookup = [-8, 0, 100, 200, 256]
    rng = np.random.default_rng(1)
    string = tfc_encode(lookup, np.zeros(400, int), rng.integers(0, 2, 400))
    decoder = tfcdecode.RangeDecoder(string)
    decoder.decode(tfcdecode.scan_tables([-8, 0, 10, 250, 256]) * 400)
    with pytest.raises(tfcdecode.DecodeError, match="range decoding failed"):
        decoder.finish()


def test_an_escape_followed_by_endless_zero_bits_is_refused():
    """tfc's OverflowDecode loops forever here (value == base after the escape, zeros past the end of the
    string: every gamma bit decodes as 0); the prefix is capped at 30 zeros, the most an int32 needs."""
    decoder = tfcdecode.RangeDecoder(bytes([0x00, 0x10, 0x00, 0x00]))  # value = the escape interval's start
    with pytest.raises(tfcdecode.DecodeError, match="overflow code too long"):
        decoder.decode(tfcdecode.scan_tables([-12, 0, 1, 4096]))


@pytest.fixture(scope="module")
def crop() -> np.ndarray:
    """A 128x192 crop of the bundled Kodak sample (odd sizes exercise the crop to H x W)."""
    return read_image(SAMPLE_IMAGE)[0][:121, :187]


def latents_of(codec: learned.LearnedCodec, data: bytes) -> np.ndarray:
    """tfc's decoded latents of a file (the SavedModel's entropy_decode)."""
    c = tfcdecode.parse_container(data)
    return codec.model.entropy_decode(tf.constant(c.strings), tf.constant(c.latent_shapes, tf.int32),
                                      *codec._width()).numpy()


@pytest.mark.parametrize("name", ["bls2017-mse-2", "bmshj2018-mse-2"])
def test_files_of_the_default_models_decode_from_the_tflite_folder(name, crop):
    codec = learned.load(name)
    data = codec.encode(crop)
    model = tfcdecode.find_model(TFLITE, tfcdecode.parse_container(data))
    y_hat, _ = model.latents(tfcdecode.parse_container(data))
    np.testing.assert_array_equal(y_hat, latents_of(codec, data))
    image, c = tfcdecode.decode(data, TFLITE, model=model)
    assert image.shape == crop.shape and (c.height, c.width) == crop.shape[:2]
    assert np.abs(image.astype(int) - codec.decode(data).astype(int)).max() <= 1


def test_large_images_are_synthesized_in_tiles_without_seams(crop, monkeypatch):
    data = learned.load("bls2017-mse-2").encode(crop)
    whole, _ = tfcdecode.decode(data, TFLITE)
    monkeypatch.setattr(tfcdecode, "TILE_PIXELS", 0)
    monkeypatch.setattr(tfcdecode, "TILE", 3)  # 3x3-latent tiles (48 pixels) with 4 latents of context
    tiled, _ = tfcdecode.decode(data, TFLITE)
    assert np.abs(tiled.astype(int) - whole.astype(int)).max() <= 1
    with pytest.raises(tfcdecode.DecodeError, match="above this decoder's limit"):
        tfcdecode.decode(data, TFLITE, max_pixels=100 * 100)


def test_exported_manifests_match_the_shipped_models():
    """A model refitted or retrained without re-exporting tflite/ would make the decoder refuse its files."""
    for path in sorted(os.listdir(TFLITE)):
        if path.endswith(".json"):
            manifest = json.load(open(os.path.join(TFLITE, path)))
            metadata = json.load(open(os.path.join(REPO, "saved_models", manifest["model"], "metadata.json")))
            assert manifest["entropy_table_sha256"] == metadata["entropy_table_sha256"], path
            assert manifest.get("version", 1) == metadata.get("version", 1), path
            assert tfcdecode.PortableModel(os.path.join(TFLITE, path)).manifest["decoder"]["portable"]


def tiny_ms2020vr():
    """An untrained ms2020vr (N=16, 2 slices) with random parameter networks and gains, so that means, scale
    indexes and escapes all vary."""
    from tfcomp.models.ms2020vr import MS2020VR

    tf.keras.utils.set_random_seed(3)
    model = MS2020VR(lambdas=(0.01, 0.05, 0.2), num_filters=16, num_slices=2, num_hyper_filters=16,
                     slice_filters=16)
    rng = np.random.default_rng(3)
    for network in model.slice_transforms.networks:
        last = network.convs[-1]
        last.kernel.assign(rng.normal(0, 0.2, last.kernel.shape))
        last.bias.assign(np.concatenate([rng.normal(0, 2, 8), rng.uniform(0, 12, 8)]))
    model.gain_units.log_gain.assign(rng.uniform(2.0, 4.0, model.gain_units.log_gain.shape))
    model.gain_units.log_inverse_gain.assign(rng.uniform(-3.0, -1.0, model.gain_units.log_inverse_gain.shape))
    model.enable_coding()
    return model


def test_ms2020vr_latents_are_tfcs_at_any_quality(tmp_path, crop, monkeypatch):
    escaped, escape = [], tfcdecode.RangeDecoder._escaped

    def counted(self, largest: int) -> int:
        escaped.append(escape(self, largest))
        return escaped[-1]

    monkeypatch.setattr(tfcdecode.RangeDecoder, "_escaped", counted)
    model = tiny_ms2020vr()
    manifest = {"model": "ms2020vr-test", "name": "ms2020vr-test", "width_index": None,
                "entropy_table_sha256": table_hash(model.entropy_tables().numpy()),
                "entropy": portable.tables(model.entropy_model),
                "decoder": portable.decoder_section(model, "ms2020vr-test", str(tmp_path)), "files": {}}
    (tmp_path / "ms2020vr-test.json").write_text(json.dumps(manifest))
    decoder = tfcdecode.PortableModel(str(tmp_path / "ms2020vr-test.json"))
    for quality in (1.0, 2.345):
        strings, shapes = model.compress(crop, quality)
        c = tfcdecode.Container("ms2020vr-test", b"", *crop.shape[:2], 3, 0,
                                tuple(map(tuple, shapes.numpy().tolist())), tuple(strings.numpy()), quality)
        y_hat, inputs = decoder.latents(c)
        expected = model.entropy_decode(strings, shapes, quality).numpy()
        np.testing.assert_array_equal(y_hat, expected)
        gains = model.gain_units(tf.reshape(tf.constant(quality, tf.float32) - 1.0, [1]), inverse=True).numpy()
        np.testing.assert_allclose(inputs, expected * gains, rtol=1e-6)
    assert len(escaped) > 10  # values beyond their table were coded
    assert len(np.unique(y_hat - np.round(y_hat))) > 10  # means with fractions were added


def test_decoder_runs_without_tensorflow(tmp_path, crop):
    """In a process where importing tensorflow fails, the latents are still tfc's; without a TFLite runtime the
    decoder says what to install."""
    codec = learned.load("bls2017-mse-2")
    data = codec.encode(crop)
    (tmp_path / "in.tfc").write_bytes(data)
    script = (
        "import sys; sys.modules['tensorflow'] = None\n"
        f"sys.path.insert(0, {REPO!r})\n"
        "import hashlib, numpy as np\n"
        "from tflite import tfcdecode as d\n"
        f"data = open({str(tmp_path / 'in.tfc')!r}, 'rb').read()\n"
        "c = d.parse_container(data)\n"
        f"y, _ = d.find_model({TFLITE!r}, c).latents(c)\n"
        "print(hashlib.sha256(y.tobytes()).hexdigest())\n"
        "try:\n"
        f"    d.decode(data, {TFLITE!r})\n"
        "except d.DecodeError as e:\n"
        "    print(e)\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    digest, *rest = result.stdout.splitlines()
    assert digest == hashlib.sha256(latents_of(codec, data).tobytes()).hexdigest()
    runtime = any(__import__("importlib").util.find_spec(m) for m in ("ai_edge_litert", "tflite_runtime"))
    assert runtime or rest == ["no TFLite runtime: pip install ai-edge-litert"]


def with_crc(body: bytes) -> bytes:
    """A container body with a valid CRC appended (so corruption reaches the range decoder)."""
    return body + struct.pack(">I", zlib.crc32(body))


def test_corrupt_payloads_end_in_one_clear_error(crop):
    """A small fuzz run: mutated, truncated and spliced strings of a bls2017 and a bmshj2018 file, with their
    checksums made valid; each decodes or raises DecodeError, quickly."""
    rng = random.Random(0)
    outcomes = {"decoded": 0, "refused": 0}
    for name in ("bls2017-mse-2", "bmshj2018-mse-2"):
        data = learned.load(name).encode(crop[:64, :64])
        model = tfcdecode.find_model(TFLITE, tfcdecode.parse_container(data))
        body = bytearray(data[:-4])
        start = len(body) - sum(len(s) for s in tfcdecode.parse_container(data).strings)
        for _ in range(150):
            mutated = bytearray(body)
            for _ in range(rng.randint(1, 4)):
                mutated[rng.randrange(start, len(mutated))] = rng.randrange(256)
            begin = time.monotonic()
            try:
                tfcdecode.decode(with_crc(bytes(mutated)), TFLITE, model=model)
                outcomes["decoded"] += 1
            except tfcdecode.DecodeError:
                outcomes["refused"] += 1
            assert time.monotonic() - begin < 5
        for cut in (1, 5, len(data) // 2):
            with pytest.raises(tfcdecode.DecodeError, match="truncated"):
                tfcdecode.parse_container(data[:-cut])
    assert outcomes["refused"] > 50


def test_command_line_writes_the_image_or_one_error_line(tmp_path, crop):
    data = learned.load("bls2017-mse-2").encode(crop)
    (tmp_path / "good.tfc").write_bytes(data)
    (tmp_path / "bad.tfc").write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    assert tfcdecode.main([str(tmp_path / "good.tfc"), str(tmp_path / "out.png")]) == 0
    assert read_image(str(tmp_path / "out.png"))[0].shape == crop.shape
    result = subprocess.run([sys.executable, "-m", "tflite.tfcdecode", str(tmp_path / "bad.tfc"),
                             str(tmp_path / "bad.png")], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.returncode == 2 and not (tmp_path / "bad.png").exists()
    assert result.stderr.strip() == "tfcdecode: error: corrupt tfcomp file (checksum mismatch)"
