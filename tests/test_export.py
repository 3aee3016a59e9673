"""Deployment exports: the plain decoder equals tfc's, TFLite files in every mode, serving SavedModels
that load in fresh processes (the transform-only ones without tensorflow_compression)."""
import json
import os
import subprocess
import sys
import types

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_compression as tfc

from conftest import REPO
from tfcomp.errors import TfcompError
from tfcomp.evaluation.metrics import psnr
from tfcomp.export import delegates, plain_decoder, qat, savedmodel, tflite, tflite_export
from tfcomp.models.bls2017 import DECODER_VARIANTS
from tfcomp.samples import SAMPLE_IMAGE
from tfcomp.data.images import read_image

SHIPPED = os.path.join(REPO, "saved_models", "bls2017-mse-2")


@pytest.mark.parametrize("size,stride", sorted({spec for specs in DECODER_VARIANTS.values() for spec in specs}))
def test_subpixel_convolution_equals_tfc_upsampling(size, stride):
    layer = tfc.SignalConv2D(5, (size, size), corr=False, strides_up=stride, padding="same_zeros", use_bias=False)
    x = tf.random.stateless_normal((1, 6, 7, 4), seed=(size, stride))
    expected = layer(x).numpy()
    weights, (before, after) = plain_decoder.subpixel_kernel(layer.kernel.numpy(), stride)
    padded = tf.pad(x, [[0, 0], [before, after], [before, after], [0, 0]])
    got = tf.nn.depth_to_space(tf.nn.conv2d(padded, weights, 1, "VALID"), stride).numpy()
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=1e-5)


@pytest.mark.parametrize("size,stride", sorted({spec for specs in DECODER_VARIANTS.values() for spec in specs}))
def test_phase_convolutions_equal_tfc_upsampling_without_structural_zeros(size, stride):
    layer = tfc.SignalConv2D(5, (size, size), corr=False, strides_up=stride, padding="same_zeros", use_bias=False)
    x = tf.random.stateless_normal((1, 6, 7, 4), seed=(size, stride))
    expected = layer(x).numpy()
    phases = plain_decoder.phase_kernels(layer.kernel.numpy(), stride)
    assert len(phases) == stride ** 2
    assert sum(np.count_nonzero(w[:, :, 0, 0]) for w, _ in phases) == size * size  # every tap once
    subpixel = plain_decoder.subpixel_kernel(layer.kernel.numpy(), stride)[0]
    assert sum(w.shape[0] * w.shape[1] for w, _ in phases) < stride ** 2 * subpixel.shape[0] ** 2
    outputs = [tf.nn.conv2d(tf.pad(x, [[0, 0], *padding, [0, 0]]), weights, 1, "VALID") for weights, padding in phases]
    got = tf.nn.depth_to_space(tf.concat(outputs, -1), stride).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_inverse_gdn_equals_tfc():
    rng = np.random.default_rng(0)
    gamma, beta = rng.uniform(0, 0.2, (6, 6)).astype("float32"), rng.uniform(0.5, 1.5, 6).astype("float32")
    x = tf.constant(rng.normal(size=(1, 4, 5, 6)).astype("float32"))
    expected = tfc.GDN(inverse=True, gamma_parameter=gamma, beta_parameter=beta)(x).numpy()
    igdn = plain_decoder.InverseGDN(6)
    igdn.build(x.shape)
    igdn.norm.set_weights([gamma[None, None], beta])
    np.testing.assert_allclose(igdn(x).numpy(), expected, rtol=1e-5, atol=1e-5)


@pytest.fixture(scope="module")
def shipped() -> tflite_export.ExportedModel:
    """The zoo default rebuilt in Keras, tables checked against its metadata."""
    return tflite_export.ExportedModel(SHIPPED)


@pytest.fixture(scope="module")
def sample() -> np.ndarray:
    """The bundled Kodak sample image."""
    return read_image(SAMPLE_IMAGE)[0]


def test_plain_decoder_of_a_shipped_model_matches_its_tfc_synthesis(shipped, sample):
    symbols = shipped.symbols(sample)
    assert np.all(symbols == np.round(symbols)) and np.any(shipped.offset)
    for split_phases in (False, True):
        decoder = shipped.plain(split_phases=split_phases)
        np.testing.assert_allclose(decoder(symbols).numpy(), shipped.reference(symbols), atol=0.02)


def test_slimmable_widths_have_plain_decoders():
    from tfcomp.models.slimcae import SlimCAE

    model = SlimCAE(lambdas=(0.02, 0.01), widths=(8, 4))
    model.enable_coding()
    for index, width in enumerate(model.widths):
        symbols = np.round(np.random.default_rng(index).normal(0, 3, (1, 3, 4, width))).astype("float32")
        layers = plain_decoder.decoder_layers(model, index)
        offset = plain_decoder.quantization_offset(model, width, index)
        assert layers[0].kernel.shape[2] == width and layers[-1].kernel.shape[3] == 3
        expected = np.clip(model.synthesis_transform(symbols + offset, width).numpy(), 0, 255)
        got = plain_decoder.plain_synthesis(layers, offset)(symbols).numpy()
        np.testing.assert_allclose(got, expected, atol=0.02)


@pytest.fixture(scope="module")
def exported(shipped, tmp_path_factory) -> types.SimpleNamespace:
    """The shipped default exported in all four modes (calibrated on the sample image)."""
    out = tmp_path_factory.mktemp("tflite")
    manifest = tflite_export.export(SHIPPED, str(out), images=[SAMPLE_IMAGE])
    return types.SimpleNamespace(out=out, manifest=manifest)


def test_every_mode_is_builtin_ops_and_decodes_the_sample(exported, shipped, sample):
    symbols = shipped.symbols(sample)
    reference = np.round(shipped.reference(symbols))[0, :sample.shape[0], :sample.shape[1]]
    quality = {}
    for mode in tflite.MODES:
        entry = exported.manifest["files"][mode]
        flatbuffer = (exported.out / entry["file"]).read_bytes()
        assert all(not op.startswith("CUSTOM") for op in entry["operators"])
        assert "TRANSPOSE_CONV v1" not in entry["operators"]  # re-expressed as CONV_2D + DEPTH_TO_SPACE
        pixels = np.clip(np.round(tflite.Decoder(flatbuffer)(symbols)), 0, 255)[0, :sample.shape[0], :sample.shape[1]]
        quality[mode] = psnr(sample, pixels.astype(np.uint8))
        if mode == "float32":
            assert np.abs(pixels - reference).max() <= 1.0
    # Calibrated on this one image only; tfcomp/export/tflite_kodak.py measures the Kodak mean (16 BSDS500 images).
    assert quality["int8"] >= psnr(sample, reference.astype(np.uint8)) - 0.5
    assert quality["float16"] >= quality["float32"] - 0.01
    int8 = exported.manifest["files"]["int8"]
    assert int8["input"]["dtype"] == "int8" and int8["input"]["quantization"] == {"scale": 1.0, "zero_point": 0}
    assert int8["output"]["dtype"] == "int8"


def _igdn_decoder(gamma: np.ndarray, beta: np.ndarray) -> tf.keras.Model:
    """symbols -> IGDN, as a batch-1 functional model."""
    x = tf.keras.Input((None, None, gamma.shape[0]), batch_size=1)
    igdn = plain_decoder.InverseGDN(gamma.shape[0])
    model = tf.keras.Model(x, igdn(x))
    igdn.norm.set_weights([gamma[None, None], beta])
    return model


def test_gamma_floor_keeps_int8_normalization_of_a_dead_channel_right():
    # Channel 2's gamma column is ~0 (its normalization is just beta), as in several shipped models.
    rng = np.random.default_rng(1)
    gamma = rng.uniform(0.01, 0.1, (4, 4)).astype("float32")
    gamma[:, 2] = 1e-12
    beta = np.array([0.9, 0.8, 0.7, 0.6], "float32")
    decoder = _igdn_decoder(gamma, beta)
    floored = plain_decoder.copy(decoder)
    assert plain_decoder.floor_gamma_columns(floored) == 1
    kernel = floored.layers[1].norm.kernel.numpy()[0, 0]
    assert kernel[2, 2] == np.float32(plain_decoder.GAMMA_COLUMN_FLOOR)
    np.testing.assert_array_equal(np.delete(kernel, 2, axis=1), np.delete(gamma, 2, axis=1))
    np.testing.assert_array_equal(decoder.layers[1].norm.kernel.numpy()[0, 0], gamma)
    symbols = rng.integers(-5, 6, (1, 6, 6, 4)).astype("float32")
    expected = decoder(symbols).numpy()
    np.testing.assert_allclose(floored(symbols).numpy(), expected, atol=plain_decoder.GAMMA_COLUMN_FLOOR * 5 ** 2)
    # Quantization-aware int8 keeps the weight scales TFMOT trained; without the floor, the dead channel's
    # int32 bias (beta in units of input scale x weight scale) overflowed and the channel came out wrong.
    model = qat.quantize_aware(decoder)
    qat.calibrate(model, [symbols])
    int8 = tflite.Decoder(qat.convert(model))(symbols)
    assert np.abs(int8[..., 2] - expected[..., 2]).max() <= 2 * np.ptp(expected) / 255


@pytest.mark.slow
def test_quantization_aware_decoder_converts_fully_int8(shipped, sample):
    symbols = shipped.symbols(sample)
    reference = np.round(shipped.reference(symbols))[0, :sample.shape[0], :sample.shape[1]]
    pairs = tf.data.Dataset.from_tensor_slices((np.repeat(symbols[:, :8, :8], 8, 0),
                                                np.repeat(sample[None, :128, :128], 8, 0)))
    model, record = qat.train(shipped, pairs, [symbols], steps=2, lr=1e-6)
    assert record["steps"] == 2 and record["calibration_batches"] == 1
    flatbuffer = qat.convert(model)
    assert qat.float_tensors(flatbuffer) == []  # no float islands: IGDN, clamp and scaling are int8 too
    operators = {name for name, _ in tflite.operators(flatbuffer)}
    assert operators <= {"ADD", "CONV_2D", "DEPTH_TO_SPACE", "ABS", "MUL", "QUANTIZE", "DEQUANTIZE", "PAD"}
    io = tflite.io_details(flatbuffer)
    assert io["input"]["dtype"] == "int8" and io["input"]["quantization"] == {"scale": 1.0, "zero_point": 0}
    converted = tflite.Decoder(flatbuffer)(symbols)
    simulated = model(symbols).numpy()
    assert np.sqrt(np.mean((converted - simulated) ** 2)) < 1.0  # the fake-quantized model predicts the file
    pixels = np.clip(np.round(converted), 0, 255)[0, :sample.shape[0], :sample.shape[1]].astype(np.uint8)
    assert psnr(sample, pixels) >= psnr(sample, reference.astype(np.uint8)) - 0.5


@pytest.mark.slow
def test_quantization_aware_mode_goes_into_the_manifest(shipped, tmp_path, monkeypatch):
    # Calibration only (no fine-tuning steps), so the test needs no training images.
    calibrate_only = qat.quantize_exported
    monkeypatch.setattr(qat, "quantize_exported", lambda *a, **k: calibrate_only(*a, **{**k, "steps": 0}))
    manifest = tflite_export.write(shipped, str(tmp_path), ("int8-qat",), images=[SAMPLE_IMAGE])
    entry = manifest["files"]["int8-qat"]
    assert (tmp_path / entry["file"]).read_bytes()[4:8] == b"TFL3"
    assert entry["quantization_aware_training"]["steps"] == 0 and entry["quantization_aware_training"]["calibration_batches"] == 1
    assert entry["input"]["quantization"] == {"scale": 1.0, "zero_point": 0}
    assert manifest["latents"]["calibration_images"] == [os.path.basename(SAMPLE_IMAGE)]


def test_manifest_carries_what_an_app_needs(exported, shipped):
    manifest = json.loads((exported.out / "bls2017-mse-2.json").read_text())
    assert manifest["entropy_table_sha256"] == shipped.metadata["entropy_table_sha256"]
    entropy = shipped.model.entropy_model
    assert manifest["entropy"]["cdf"] == entropy.cdf.numpy().tolist()
    assert manifest["entropy"]["cdf_offset"] == entropy.cdf_offset.numpy().tolist()
    assert len(manifest["entropy"]["quantization_offset"]) == manifest["latents"]["channels"] == 64
    assert set(manifest["files"]) == set(tflite.MODES)
    # ABS (inside IGDN) is float-only on NNAPI and unknown to Hexagon: the check must say so.
    assert "ABS (float only)" in manifest["files"]["int8"]["delegates"]["NNAPI"]["falls_back_to_cpu"]
    assert manifest["files"]["float32"]["delegates"]["Hexagon"]["model"].startswith("no")


def test_delegate_rules_flag_new_transpose_conv_versions():
    report = delegates.check([("TRANSPOSE_CONV", 4), ("CONV_2D", 1)], integer=False)
    assert report["GPU"]["falls_back_to_cpu"] == ["TRANSPOSE_CONV v4"]
    assert "CONV_2D" in report["GPU"]["not_checked"]


def test_cli_rejects_bad_export_options_in_one_line(cli, tmp_path):
    for args in (["--modes", "int4"], ["--latent-shape", "32by48"], ["-m", "no-such-model"]):
        result = cli.run("export", "tflite", *args, "-o", str(tmp_path / "out"))
        assert result.returncode == 2, result.stderr
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


FRESH_TRANSFORMS = """
import sys, numpy as np, tensorflow as tf
from PIL import Image
image = np.array(Image.open(sys.argv[2]).convert("RGB"))
model = tf.saved_model.load(sys.argv[1])
symbols = model.signatures["analysis"](image=tf.constant(image))["symbols"]
out = model.signatures["synthesis"](symbols=symbols, image_shape=tf.constant(image.shape[:2]))["image"]
assert "tensorflow_compression" not in sys.modules
np.save(sys.argv[3], out.numpy())
"""

FRESH_CODEC = """
import sys, numpy as np, tensorflow as tf, tensorflow_compression
from PIL import Image
image = np.array(Image.open(sys.argv[2]).convert("RGB"))
model = tf.saved_model.load(sys.argv[1])
coded = model.signatures["compress"](image=tf.constant(image))
out = model.signatures["decompress"](strings_bytes=coded["strings_bytes"], image_shape=coded["image_shape"],
                                     latent_shapes=coded["latent_shapes"])["image"]
np.save(sys.argv[3], out.numpy())
"""


def _fresh(script: str, *args: str) -> None:
    result = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]


@pytest.mark.slow
def test_savedmodels_round_trip_in_fresh_processes(tmp_path, sample):
    from tfcomp.codecs.learned import LearnedCodec

    codec = LearnedCodec(SHIPPED)
    expected = codec.decode(codec.encode(sample))
    savedmodel.export("transforms", SHIPPED, str(tmp_path / "transforms"))
    _fresh(FRESH_TRANSFORMS, str(tmp_path / "transforms"), SAMPLE_IMAGE, str(tmp_path / "t.npy"))
    transformed = np.load(tmp_path / "t.npy")
    # Plain and tfc arithmetic differ in float rounding only: at most one grey level anywhere.
    assert transformed.shape == sample.shape and np.abs(transformed.astype(int) - expected).max() <= 1
    savedmodel.export("codec", SHIPPED, str(tmp_path / "codec"))
    _fresh(FRESH_CODEC, str(tmp_path / "codec"), SAMPLE_IMAGE, str(tmp_path / "c.npy"))
    np.testing.assert_array_equal(np.load(tmp_path / "c.npy"), expected)


def test_app_recipe_decodes_a_file_from_the_json_and_tflite_alone(exported, sample, tmp_path):
    from tfcomp.codecs.learned import LearnedCodec

    codec = LearnedCodec(SHIPPED)
    data = codec.encode(sample)
    (tmp_path / "sample.tfc").write_bytes(data)
    result = subprocess.run([sys.executable, os.path.join(REPO, "tflite", "decode_example.py"),
                             str(tmp_path / "sample.tfc"), str(tmp_path / "out.png"), "--dir", str(exported.out)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    decoded = read_image(str(tmp_path / "out.png"))[0]
    assert np.abs(decoded.astype(int) - codec.decode(data)).max() <= 1


def test_tflite_check_merges_a_rerun_of_some_models_into_the_earlier_results(tmp_path):
    from tfcomp import zoo
    from tfcomp.export import tflite_kodak

    zoo._index.cache_clear()
    shipped = [m["name"] for m in zoo.list_models()][0]  # the repository's zoo
    earlier = tmp_path / "tflite_kodak.json"
    earlier.write_text(json.dumps({"images": 24, "models": [dict(name=shipped, tf_psnr=20.0),
                                                            dict(name="no-longer-shipped", tf_psnr=30.0)]}))
    rows = tflite_kodak.merged_rows(str(earlier), [dict(name=shipped, tf_psnr=25.0)], 24)
    # A model that left the zoo keeps its measured row.
    assert rows == sorted([dict(name=shipped, tf_psnr=25.0), dict(name="no-longer-shipped", tf_psnr=30.0)],
                          key=lambda row: row["name"])
    with pytest.raises(SystemExit):
        tflite_kodak.merged_rows(str(earlier), [], 4)
    # A model that is not installed is refused before anything is measured or written.
    with pytest.raises(TfcompError, match="not-a-model"):
        tflite_kodak.main(["--models", f"{shipped},not-a-model"])
