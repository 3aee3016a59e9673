"""The residual autoencoder (resae): architecture, convergence rule, Q score, ratio, denoiser, int8 decoder,
the codec, its files and the CLI.

The codec tests use a tiny configuration (32x32 tiles, latent 4) trained for a few steps, with a real int8
conversion and a denoiser whose output layer is perturbed (so it is not the identity): enough to test
every code path in seconds.
"""
import dataclasses

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from conftest import run_tfcomp, smooth_image
from test_cli import assert_clean_failure
from tfcomp import registry
from tfcomp.codecs import container
from tfcomp.codecs import resae as resae_codec
from tfcomp.codecs.resae import ResAECodec
from tfcomp.errors import TfcompError
from tfcomp.evaluation import metrics
from tfcomp.codecs import resae_files
from tfcomp.evaluation import resae_scores
from tfcomp.models import resae, resae_denoiser
from tfcomp.training.resae_convergence import ConvergenceRule

TINY = resae.Config(num_layers=2, image_set_size=8, latent_dim=4, image_size=32)
IMAGE = smooth_image(40, 70, seed=3)  # a 2x3 grid of 32x32 tiles, the last row and column partly padding


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> str:
    """A folder with a tiny 'small' configuration (15 Adam steps, int8 decoder) and a perturbed denoiser."""
    tf.keras.utils.set_random_seed(0)
    folder = tmp_path_factory.mktemp("resae")
    tiles = np.stack([smooth_image(32, 32, seed=i) for i in range(8)]).astype(np.float32) / 255.0
    model = resae.ResAE(TINY)
    model.compile(optimizer=tf.keras.optimizers.Adam(1e-3))
    model.fit(tiles, batch_size=8, epochs=15, verbose=0)
    latents = model.encoder(tiles).numpy()
    int8 = resae_files.convert_int8(model.decoder, TINY, latents)
    resae_files.save_autoencoder(str(folder / "resae_small.npz"), TINY, model.encoder, model.decoder, int8,
                           {"training": "tiny test model"})
    denoiser = resae_denoiser.build_denoiser()
    out = denoiser.get_layer("dn_out")
    out.kernel.assign(tf.random.normal(out.kernel.shape, stddev=1e-3))
    resae_files.save_denoiser(str(folder / resae_codec.DENOISER_FILE), denoiser, {"training": "perturbed test denoiser"})
    return str(folder)


@pytest.fixture()
def resae_env(model_dir, monkeypatch) -> dict:
    """Points this process and CLI subprocesses at the test model folder."""
    monkeypatch.setenv(resae_codec.MODEL_ENV, model_dir)
    return {resae_codec.MODEL_ENV: model_dir}


def test_architecture_follows_seed_000():
    config = resae.CONFIGS["small"]
    assert [dataclasses.astuple(resae.CONFIGS[n])[:3] for n in ("small", "base", "large", "xlarge")] == [
        (2, 64, 16), (2, 256, 32), (2, 1024, 64), (2, 4096, 128)]
    encoder, decoder = resae.build_encoder(config), resae.build_decoder(config)
    assert encoder.output_shape == (None, 16) and decoder.output_shape == (None, 256, 256, 3)
    convs = [layer for layer in encoder.layers if isinstance(layer, tf.keras.layers.Conv2D)]
    assert [(c.kernel_size, c.strides, c.filters) for c in convs if c.name.endswith("_conv")] == [
        ((4, 4), (2, 2), 32), ((4, 4), (2, 2), 64)]
    assert [c.kernel_size for c in convs if c.name.endswith("_skip")] == [(1, 1), (1, 1)]
    assert encoder.get_layer("enc_dense").kernel.shape == (64 * 64 * 64, 16)
    # Decoder: Dense -> ReLU -> reshape -> one transposed residual block -> ConvTranspose k4 s2 -> sigmoid.
    assert decoder.get_layer("dec_dense").kernel.shape == (16, 64 * 64 * 64)
    assert decoder.get_layer("dec_0_conv").output_shape == (None, 128, 128, 32)
    out = decoder.get_layer("dec_out")
    assert isinstance(out, tf.keras.layers.Conv2DTranspose) and out.kernel_size == (4, 4) and out.strides == (2, 2)
    assert decoder.layers[-1].activation is tf.keras.activations.sigmoid
    y = decoder(tf.random.normal((2, 16)) * 10)
    assert float(tf.reduce_min(y)) >= 0 and float(tf.reduce_max(y)) <= 1


def test_skip_path_is_a_1x1_stride_2_convolution():
    encoder = resae.build_encoder(TINY)
    x = tf.random.uniform((2, 32, 32, 3))
    skip = encoder.get_layer("enc_0_skip")
    sub = tf.keras.Model(encoder.input, skip.output)
    expected = tf.nn.conv2d(x, skip.kernel, strides=2, padding="VALID") + skip.bias
    np.testing.assert_allclose(sub(x).numpy(), expected.numpy(), atol=1e-5)


def test_training_lowers_the_loss():
    tf.keras.utils.set_random_seed(1)
    tiles = np.stack([smooth_image(32, 32, seed=i) for i in range(4)]).astype(np.float32) / 255.0
    model = resae.ResAE(TINY)
    model.compile(optimizer=tf.keras.optimizers.Adam(1e-3))
    history = model.fit(tiles, batch_size=4, epochs=25, verbose=0).history["loss"]
    assert history[-1] < 0.5 * history[0]


class _Model:
    stop_training = False


def _rule(losses, ssims, **kwargs):
    """Feeds epoch losses to a rule whose SSIM at check k is ssims[k]; returns (rule, epoch it stopped)."""
    values = iter(ssims)
    rule = ConvergenceRule(lambda: next(values), **kwargs)
    rule.model = _Model()
    for epoch, loss in enumerate(losses):
        rule.on_epoch_end(epoch, {"loss": loss})
        if rule.model.stop_training:
            return rule, epoch + 1
    return rule, None


def test_convergence_rule_needs_flat_loss_stable_ssim_and_500_epochs():
    flat = [0.01] * 800
    # Flat loss and stable SSIM: stops at the first check after epoch 500 (600; epoch 500 is not > 500).
    rule, stopped = _rule(flat, [0.9] * 10)
    assert stopped == 600 and [c["epoch"] for c in rule.state["checks"]] == [100, 200, 300, 400, 500, 600]
    # A loss still falling by 1e-5 per epoch never satisfies |slope| < 1e-6.
    assert _rule([0.1 - 1e-5 * i for i in range(800)], [0.9] * 10)[1] is None
    # SSIM moving by 2e-3 between checks never converges; by 5e-4 it does.
    assert _rule(flat, [0.9 + 2e-3 * k for k in range(10)])[1] is None
    assert _rule(flat, [0.9 + 5e-4 * k for k in range(10)])[1] == 600
    # The slope is fitted to the last 100 losses only.
    assert _rule([1.0 - 1e-3 * i for i in range(450)] + [0.5] * 350, [0.9] * 10)[1] == 600
    assert ConvergenceRule.slope([3.0, 2.0, 1.0]) == pytest.approx(-1.0)


def test_q_score_and_compression_ratio():
    assert resae_scores.q_score([20, 30, 40], [0.5, 0.6, 0.7]) == pytest.approx(0.5 * 0.5 + 0.5 * 0.6)
    assert resae_scores.q_score([30], [0.8], psnr_range=(20, 40)) == pytest.approx(0.5 * 0.5 + 0.5 * 0.8)
    assert resae_scores.q_score([30], [0.8], alpha=1.0, psnr_range=(20, 40)) == pytest.approx(0.5)
    # The essay's small model: an 18 MB float decoder shared by 64 images is a ratio of about 1.43.
    decoder_bytes = 4 * resae.build_decoder(resae.CONFIGS["small"]).count_params()
    assert resae_scores.compression_ratio(decoder_bytes, 64, 64) == pytest.approx(1.43, abs=0.03)


def test_denoiser_is_light_starts_as_identity_and_learns():
    denoiser = resae_denoiser.build_denoiser()
    assert denoiser.count_params() < 1_000_000
    convs = [layer for layer in denoiser.layers if "_conv" in layer.name]
    assert len(convs) == 12 and {c.filters for c in convs} == {32} and {c.kernel_size for c in convs} == {(3, 3)}
    assert denoiser.get_layer("dn_in").filters == 64 and denoiser.get_layer("dn_out").filters == 3
    assert denoiser.get_layer("dn_ca_up").activation is tf.keras.activations.sigmoid
    x = tf.random.uniform((1, 24, 24, 3))
    np.testing.assert_allclose(denoiser(x).numpy(), x.numpy(), atol=1e-6)  # zero correction at start
    # A few steps on noisy/clean pairs raise SSIM on held-out noisy images.
    tf.keras.utils.set_random_seed(2)
    clean = np.stack([smooth_image(32, 32, seed=i) for i in range(12)]).astype(np.float32) / 255.0
    noisy = np.clip(clean + np.random.default_rng(0).normal(0, 0.08, clean.shape), 0, 1).astype(np.float32)
    trainer = resae_denoiser.DenoiserTrainer(denoiser)
    trainer.compile(optimizer=tf.keras.optimizers.Adam(1e-3))
    trainer.fit(noisy[:8], clean[:8], batch_size=4, epochs=15, verbose=0)
    before = float(tf.reduce_mean(resae.ssim_01(clean[8:], noisy[8:])))
    after = float(tf.reduce_mean(resae.ssim_01(clean[8:], denoiser(noisy[8:]))))
    assert after > before + 0.01


def test_int8_decoder_is_smaller_and_close(model_dir):
    model = resae_files.load_autoencoder(f"{model_dir}/resae_small.npz")
    float_bytes = model.metadata["decoder_bytes"]["float32"]
    assert len(model.int8) < 0.45 * float_bytes  # most of the decoder is one int8 Dense kernel
    interpreter = tf.lite.Interpreter(model_content=model.int8)
    kinds = {d["dtype"] for d in interpreter.get_tensor_details() if "dec_dense" in d["name"]}
    assert np.int8 in kinds
    latents = model.encoder(np.stack([smooth_image(32, 32, seed=i) for i in range(3)]) / 255.0).numpy()
    quantized = resae_files.Int8Decoder(model.int8)(latents)
    assert np.abs(quantized - model.decoder(latents).numpy()).max() < 0.05


@pytest.mark.parametrize("point", ["small", "small-int8", "small-raw", "small-int8-raw"])
def test_round_trip_in_process(resae_env, point):
    codec = ResAECodec(point)
    data = codec.encode(IMAGE)
    c = container.unpack(data)
    assert c.model == f"resae-{point}" and (c.height, c.width) == (40, 70) and c.latent_shapes == ((2, 3),)
    assert len(c.strings[0]) == 6 * 4 * 4  # six tiles of four float32 values
    decoded, _ = registry.decode_file(data)
    assert decoded.shape == IMAGE.shape and decoded.dtype == np.uint8
    np.testing.assert_array_equal(decoded, codec.decode(data))
    latents, grid = codec.latents(IMAGE)
    np.testing.assert_array_equal(np.frombuffer(c.strings[0], "<f4").reshape(6, 4), latents)
    np.testing.assert_array_equal(decoded, resae_codec.from_tiles(codec.synthesize(latents), grid, 40, 70))


def test_denoiser_and_int8_change_the_decoding(resae_env):
    decoded = {p: ResAECodec(p).decode(ResAECodec(p).encode(IMAGE)) for p in ("small", "small-raw", "small-int8-raw")}
    assert not np.array_equal(decoded["small"], decoded["small-raw"])
    assert not np.array_equal(decoded["small-raw"], decoded["small-int8-raw"])
    # int8 stays close to the float decoder: within a few grey levels on average.
    assert metrics.psnr(decoded["small-raw"], decoded["small-int8-raw"]) > 30


def test_registry_names(resae_env):
    assert registry.codec("resae").name == "resae-small-int8"
    assert registry.codec("resae-base-int8-raw").name == "resae-base-int8-raw"
    assert [c.name for c in registry.codec_family("resae")] == ["resae-small-int8"]  # installed configs only
    for bad in ("resae-huge", "resae-small-raw-int8", "resae-small-fp16", "resae-small-int8-int8"):
        with pytest.raises(TfcompError, match="resae-CONFIG"):
            registry.codec(bad)


def test_files_are_checked_against_the_model(resae_env, tmp_path, monkeypatch):
    data = ResAECodec("small-int8").encode(IMAGE)
    parsed = container.unpack(data)
    with pytest.raises(TfcompError, match="not 'resae-small'"):
        ResAECodec("small").decode(data)
    for bad, message in [
        (dataclasses.replace(parsed, table_hash=bytes(16)), "model hash"),
        (dataclasses.replace(parsed, latent_shapes=((1, 3),)), "tile grid"),
        (dataclasses.replace(parsed, strings=(parsed.strings[0][:-4],)), "float32 values"),
        (dataclasses.replace(parsed, strings=(np.full(24, np.nan, "<f4").tobytes(),)), "not finite"),
    ]:
        with pytest.raises(TfcompError, match=message):
            registry.decode_file(container.pack(bad))
    # A -raw file does not need the denoiser; a denoised one names the missing file.
    raw = ResAECodec("small-raw").encode(IMAGE)
    monkeypatch.setenv(resae_codec.MODEL_ENV, str(tmp_path))
    with pytest.raises(TfcompError, match="resae models are not installed"):
        registry.decode_file(raw)


def test_cli_round_trip_in_separate_processes_and_bad_input(cli, resae_env, tmp_path):
    photo = tmp_path / "photo.png"
    Image.fromarray(IMAGE).save(photo)
    result = cli.run("compress", "-m", "resae-small-int8", str(photo), env=resae_env, check=True)
    assert "resae-small-int8" in result.stdout
    made_here = tmp_path / "float.tfc"
    made_here.write_bytes(ResAECodec("small").encode(IMAGE))
    cli.run("decompress", str(tmp_path / "photo.tfc"), str(made_here), env=resae_env, check=True)
    for path in (tmp_path / "photo.tfc", made_here):
        # The other process decoded it to the pixels this one does, at the original size.
        decoded = np.asarray(Image.open(f"{path}.png"))
        assert decoded.shape == IMAGE.shape
        np.testing.assert_array_equal(decoded, registry.decode_file(path.read_bytes())[0])
    # A well-formed container with one latent too few.
    c = container.unpack(made_here.read_bytes())
    short = tmp_path / "short.tfc"
    short.write_bytes(container.pack(dataclasses.replace(c, strings=(c.strings[0][:-16],))))
    result = cli.run("decompress", str(short), env=resae_env)
    assert_clean_failure(result, str(short) + ".png")
    assert "resae latents" in result.stderr


@pytest.mark.slow
def test_train_verbs_write_files_the_codec_uses(image_folder, tmp_path, monkeypatch):
    folder = tmp_path / "models"
    run_tfcomp("train", "-a", "resae", "--config", "small", "--image-size", "32", "--set-size", "8", "--epochs", "2",
               "--no-int8", "--train-data", image_folder, "--workdir", str(tmp_path / "ae"),
               str(folder / "resae_small.npz"), check=True)
    run_tfcomp("train", "-a", "resae-denoiser", "--configs", "small", "--epochs", "1", "--steps-per-epoch", "2",
               "--crop", "16", "--batch", "2", "--workdir", str(tmp_path / "dn"),
               str(folder / resae_codec.DENOISER_FILE), check=True)
    model = resae_files.load_autoencoder(str(folder / "resae_small.npz"))
    training = model.metadata["training"]
    assert training["epochs"] == 2 and training["image_set"]["count"] == 8
    assert training["command"] == "tfcomp train -a resae"
    _, denoiser_meta, _ = resae_files.load_denoiser(str(folder / resae_codec.DENOISER_FILE))
    assert denoiser_meta["training"]["args"]["configs"] == "small" and denoiser_meta["training"]["steps"] == 2
    monkeypatch.setenv(resae_codec.MODEL_ENV, str(folder))
    decoded = registry.decode_file(ResAECodec("small").encode(IMAGE))[0]
    assert decoded.shape == IMAGE.shape
