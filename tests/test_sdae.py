"""The stacked denoising autoencoder (SDAE): architecture, the two latent codings, tiling, the codec, the model file
and the CLI.

The model is untrained (random transforms, BatchNorm at its initial statistics); only its priors are
fitted, briefly, to its latents of a few generated tiles. That is enough to test every code path.
"""
import dataclasses
import re
import zlib

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from conftest import run_tfcomp, smooth_image
from test_cli import assert_clean_failure
from tfcomp import registry
from tfcomp.codecs import container
from tfcomp.codecs import sdae as sdae_codec
from tfcomp.codecs.sdae import SDAECodec
from tfcomp.errors import TfcompError
from tfcomp.evaluation import metrics
from tfcomp.models import sdae

IMAGE = smooth_image(150, 260, seed=5)  # a 2x3 grid of tiles, the last row and column partly padding


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> str:
    """An untrained SDAE whose priors are fitted for 100 steps, saved as a model file."""
    tf.keras.utils.set_random_seed(0)
    model = sdae.SDAE()
    tiles = np.stack([smooth_image(128, 128, seed=i) for i in range(8)])
    model.priors.fit_latents(model.analyze(tiles).numpy(), train_steps=100)
    path = str(tmp_path_factory.mktemp("sdae") / "sdae.npz")
    sdae.save(model, path, {"training": "untrained test model"})
    return path


@pytest.fixture()
def sdae_env(model_file, monkeypatch) -> dict:
    """Points this process and CLI subprocesses at the test model file."""
    monkeypatch.setenv(sdae_codec.MODEL_ENV, model_file)
    return {sdae_codec.MODEL_ENV: model_file}


def test_architecture_follows_seed_004():
    model = sdae.SDAE()
    x = tf.random.uniform((2, 128, 128, 3))
    latents = model.analysis_transform(x, training=False)
    assert latents.shape == (2, 8, 8, 32) and np.prod(latents.shape[1:]) == 2048
    output = model.synthesis_transform(latents, training=False)
    assert output.shape == (2, 128, 128, 3)
    assert float(tf.reduce_min(output)) >= 0 and float(tf.reduce_max(output)) <= 1  # sigmoid
    kinds = [type(layer).__name__ for layer in model.analysis_transform.layers + model.synthesis_transform.layers]
    assert kinds.count("PReLU") == 8 and kinds.count("BatchNormalization") == 8 and kinds.count("Dropout") == 8
    assert kinds[-2:] == ["Conv2DTranspose", "Activation"]
    strides = [layer.strides for layer in model.analysis_transform.layers if hasattr(layer, "strides")]
    assert strides == [(1, 1), (2, 2)] * 4
    # Conv 3x3 to 4f channels before each x2 pixel shuffle, f = 32, 64, 64, 32.
    shuffled = [layer.filters for layer in model.synthesis_transform.layers if type(layer).__name__ == "Conv2D"]
    assert shuffled == [128, 256, 256, 128]


def test_training_adds_input_noise_and_targets_the_clean_tile():
    x = tf.fill((4, 64, 64, 3), 0.5)
    noisy = sdae.add_noise(x, 0.15)
    assert abs(float(tf.math.reduce_std(noisy)) - 0.15) < 0.01
    assert float(tf.reduce_min(sdae.add_noise(tf.zeros((1, 8, 8, 3)), 0.3))) == 0.0  # clipped to [0, 1]
    model = sdae.SDAE()
    model.compile(optimizer=tf.keras.optimizers.Adam(1e-4))
    before = [v.numpy() for v in model.priors.trainable_variables]
    logs = model.train_step(tf.random.uniform((2, 128, 128, 3)))
    assert np.isfinite(float(logs["mse"])) and float(logs["psnr"]) > 0
    # Stage 1 trains the transforms only; the priors are fitted to the frozen encoder afterwards.
    assert all(np.array_equal(b, v.numpy()) for b, v in zip(before, model.priors.trainable_variables))


def test_deflate_coding_rounds_to_two_decimals():
    latents = np.random.default_rng(0).normal(0, 2, (2, 8, 8, 32)).astype(np.float32)
    latents[0, 0, 0, :3] = (-0.001, 0.004999, 1.0)
    data = sdae.deflate_encode(latents)
    tokens = zlib.decompress(data).decode("ascii").split("\n")
    assert len(tokens) == 2 * 2048 and all(re.fullmatch(r"-?\d+\.\d\d", t) for t in tokens)
    assert tokens[:3] == ["0.00", "0.00", "1.00"]  # no "-0.00": equal values, equal text
    decoded = sdae.deflate_decode(data, 2)
    np.testing.assert_allclose(decoded, np.round(latents, 2), atol=1e-6)
    assert 0 < np.abs(decoded - latents).max() <= 0.005 + 1e-6
    for bad in (data[:-5], zlib.compress(b"1.00\n" * 10), zlib.compress(b"1.234\n" * 4096), b"garbage"):
        with pytest.raises(TfcompError, match="corrupt"):
            sdae.deflate_decode(bad, 2)


def test_tiles_replicate_edges_and_crop_back():
    tiles, grid = sdae_codec.to_tiles(IMAGE)
    assert grid == (2, 3) and tiles.shape == (6, 128, 128, 3) and tiles.dtype == np.uint8
    # The last tile holds image rows 128..149 and columns 256..259; the rest repeats the last row and column.
    np.testing.assert_array_equal(tiles[5, :22, :4], IMAGE[128:, 256:])
    np.testing.assert_array_equal(tiles[5, :22, 4:], np.broadcast_to(IMAGE[128:, -1:], (22, 124, 3)))
    np.testing.assert_array_equal(tiles[5, 22:], np.broadcast_to(tiles[5, 21:22], (106, 128, 3)))
    np.testing.assert_array_equal(sdae_codec.from_tiles(tiles, grid, 150, 260), IMAGE)


@pytest.mark.parametrize("point", ["deflate", "q1", "q7"])
def test_both_codings_round_trip_in_process(sdae_env, point):
    codec = SDAECodec(point)
    data = codec.encode(IMAGE)
    c = container.unpack(data)
    assert c.model == f"sdae-{point}" and (c.height, c.width) == (150, 260) and c.latent_shapes == ((16, 24),)
    decoded, _ = registry.decode_file(data)
    assert decoded.shape == IMAGE.shape and decoded.dtype == np.uint8
    np.testing.assert_array_equal(decoded, codec.decode(data))
    # The decoder sees the quantized latents: within half a step (2 decimals for Deflate) of the encoder's.
    model, _, _ = sdae_codec.load_model(sdae_env[sdae_codec.MODEL_ENV])
    latents = model.analyze(sdae_codec.to_tiles(IMAGE)[0]).numpy()
    if point == "deflate":
        quantized = sdae.deflate_decode(c.strings[0], 6)
        step = 0.01
    else:
        quantized = model.priors.decompress(c.strings[0], codec.step_index, 6)
        step = sdae.STEPS[codec.step_index]
    assert np.abs(quantized - latents).max() <= step / 2 + 1e-5
    expected = sdae_codec.from_tiles(model.synthesize(quantized).numpy(), (2, 3), 150, 260)
    np.testing.assert_array_equal(decoded, expected)


def test_tiles_are_coded_independently_in_raster_order(sdae_env):
    codec = SDAECodec("deflate")
    whole = codec.decode(codec.encode(IMAGE))
    corner = codec.decode(codec.encode(IMAGE[:128, 128:256]))
    # Batch composition may move float results by an ulp, hence one grey level of tolerance.
    assert np.abs(whole[:128, 128:256].astype(int) - corner.astype(int)).max() <= 1


def test_our_coding_is_smaller_than_deflate_at_equal_psnr_and_grows_with_the_step(sdae_env):
    # Whole tiles: Deflate's string matching also finds the repeats in edge-replicated padding.
    image = smooth_image(128, 256, seed=9)
    files = {p: SDAECodec(p).encode(image) for p in ("deflate", "q1", "q4", "q7")}
    assert len(files["q1"]) < len(files["q4"]) < len(files["q7"]) < len(files["deflate"])
    psnr = {p: metrics.psnr(image, SDAECodec(p).decode(files[p])) for p in ("deflate", "q7")}
    assert abs(psnr["q7"] - psnr["deflate"]) < 0.05  # the same precision, 0.01


def test_registry_names():
    assert registry.codec("sdae").name == "sdae-q7" and registry.codec("sdae-deflate").family == "sdae-deflate"
    assert [c.name for c in registry.codec_family("sdae")] == [f"sdae-q{i}" for i in range(1, 8)]
    assert registry.codec("klt-q30").name == "klt-q30"  # the other file codec still parses its names
    with pytest.raises(TfcompError, match="sdae-q1..q7"):
        registry.codec("sdae-q8")
    with pytest.raises(TfcompError, match="unknown model"):
        registry.codec("sdae-lossless")


def test_files_are_checked_against_the_model(sdae_env, model_file, tmp_path, monkeypatch):
    data = SDAECodec("q3").encode(IMAGE)
    parsed = container.unpack(data)
    with pytest.raises(TfcompError, match="not 'sdae-q4'"):
        SDAECodec("q4").decode(data)
    for bad, message in [
        (dataclasses.replace(parsed, table_hash=bytes(16)), "model hash"),
        (dataclasses.replace(parsed, latent_shapes=((8, 24),)), "latent shape"),
        # The range coder cannot tell a truncated string (the container's CRC-32 does); extra bytes it can.
        (dataclasses.replace(parsed, strings=(parsed.strings[0] + bytes(8),)), "do not decode"),
    ]:
        with pytest.raises(TfcompError, match=message):
            registry.decode_file(container.pack(bad))
    monkeypatch.setenv(sdae_codec.MODEL_ENV, str(tmp_path / "missing.npz"))
    with pytest.raises(TfcompError, match="no SDAE model"):
        registry.decode_file(data)


def test_cli_round_trip_in_separate_processes_and_bad_input(cli, sdae_env, tmp_path):
    photo = tmp_path / "photo.png"
    Image.fromarray(IMAGE).save(photo)
    result = cli.run("compress", "-m", "sdae-q5", str(photo), env=sdae_env, check=True)
    assert "sdae-q5" in result.stdout
    made_here = tmp_path / "deflate.tfc"
    made_here.write_bytes(SDAECodec("deflate").encode(IMAGE))
    cli.run("decompress", str(tmp_path / "photo.tfc"), str(made_here), env=sdae_env, check=True)
    for path in (tmp_path / "photo.tfc", made_here):
        # The other process decoded it to the pixels this one does, at the original size.
        decoded = np.asarray(Image.open(f"{path}.png"))
        assert decoded.shape == IMAGE.shape
        np.testing.assert_array_equal(decoded, registry.decode_file(path.read_bytes())[0])

    # A well-formed container whose Deflate text holds too few values.
    c = container.unpack(made_here.read_bytes())
    short = tmp_path / "short.tfc"
    short.write_bytes(container.pack(dataclasses.replace(c, strings=(zlib.compress(b"0.00\n" * 5),))))
    result = cli.run("decompress", str(short), env=sdae_env)
    assert_clean_failure(result, str(short) + ".png")
    assert "2-decimal sdae latents" in result.stderr


@pytest.mark.slow
def test_train_verb_writes_a_model_file_the_codec_uses(image_folder, tmp_path, monkeypatch):
    out = tmp_path / "sdae.npz"
    run_tfcomp("train", "-a", "sdae", "--train-data", image_folder, "--val-data", "", "--steps", "2",
               "--steps-per-epoch", "1", "--batch", "2", "--prior-crops", "16", "--prior-steps", "5",
               "--workdir", str(tmp_path / "work"), str(out), check=True)
    _, metadata, _ = sdae.load(str(out))
    assert metadata["training"]["steps"] == 2 and metadata["training"]["command"] == "tfcomp train -a sdae"
    assert metadata["priors"]["train_steps"] == 5
    monkeypatch.setenv(sdae_codec.MODEL_ENV, str(out))
    decoded = registry.decode_file(SDAECodec("q5").encode(IMAGE))[0]
    assert decoded.shape == IMAGE.shape
