"""SlimCAE: joint loss over widths, chroma term, coding at every width, SavedModel round trip,
warm starts, and the lambda schedule (with fakes, and as a training option). The reproduction run's per-width
report is tested in test_reproduce.py."""
import json
import math
import types

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_compression as tfc

from conftest import SLIMCAE_LAMBDAS, SLIMCAE_WIDTHS, run_tfcomp, smooth_image
from tfcomp import registry
from tfcomp.models.slimcae import DEFAULT_LAMBDAS, SlimCAE, chroma_difference, rgb_to_lab
from tfcomp.training.slimcae_schedule import measure_widths, rd_slope, schedule_lambdas

WIDTHS, LAMBDAS = SLIMCAE_WIDTHS, SLIMCAE_LAMBDAS


@pytest.fixture()
def saved(slimcae_tiny) -> types.SimpleNamespace:
    """conftest's tiny trained SlimCAE of WIDTHS and LAMBDAS: `model`, and its SavedModel's `path` and
    `metadata`."""
    return slimcae_tiny


def _per_width(model: SlimCAE, x: tf.Tensor) -> list[tuple[float, float, float]]:
    """(bpp, mse, chroma) of each width, computed layer by layer with rounding."""
    results = []
    for index, width in enumerate(model.widths):
        entropy_model = tfc.ContinuousBatchedEntropyModel(model.priors[index], coding_rank=3, compression=False)
        y_hat, bits = entropy_model(model.analysis_transform(x, width), training=False)
        x_hat = model.synthesis_transform(y_hat, width)
        bpp = float(tf.reduce_sum(bits)) / (x.shape[0] * x.shape[1] * x.shape[2])
        results.append((bpp, float(tf.reduce_mean((x - x_hat) ** 2)), float(chroma_difference(x, x_hat))))
    return results


def test_loss_is_the_sum_over_widths_and_lambdas_change_without_retracing():
    model = SlimCAE(lambdas=LAMBDAS, widths=WIDTHS)
    x = tf.constant(np.stack([smooth_image(48, 64, seed=s) for s in (0, 1)]), tf.float32)
    widths = _per_width(model, x)
    loss, bpp, mse = model(x, training=False)
    np.testing.assert_allclose(float(loss), sum(b + l * m for (b, m, _), l in zip(widths, LAMBDAS)), rtol=1e-5)
    np.testing.assert_allclose(float(bpp), np.mean([b for b, _, _ in widths]), rtol=1e-5)
    np.testing.assert_allclose(float(mse), np.mean([m for _, m, _ in widths]), rtol=1e-5)
    # The compiled test step reads the lambdas variable: new lambdas apply without a new trace.
    model.compile(optimizer=tf.keras.optimizers.Adam(1e-3))
    model.evaluate(x, batch_size=2, verbose=0)
    test_function = model.test_function
    model.set_lambdas([0.1, 0.0, 1.0])
    logs = model.evaluate(x, batch_size=2, verbose=0, return_dict=True)
    assert model.test_function is test_function
    np.testing.assert_allclose(logs["loss"], sum(b + l * m for (b, m, _), l in zip(widths, (0.1, 0.0, 1.0))),
                               rtol=1e-5)
    assert model.get_config()["lambdas"] == [0.1, 0.0, 1.0]


def test_chroma_term_adds_the_weighted_chroma_difference_of_every_width():
    plain = SlimCAE(lambdas=LAMBDAS, widths=WIDTHS)
    chroma = SlimCAE(lambdas=LAMBDAS, widths=WIDTHS, chroma_weight=0.25)
    chroma.set_weights(plain.get_weights())
    x = tf.constant(smooth_image(32, 48)[None], tf.float32)
    expected = float(plain(x, training=False)[0]) + 0.25 * sum(c for _, _, c in _per_width(plain, x))
    np.testing.assert_allclose(float(chroma(x, training=False)[0]), expected, rtol=1e-5)


def test_rgb_to_lab_matches_known_colours_and_has_finite_gradients():
    rgb = tf.constant([[255, 255, 255], [0, 0, 0], [255, 0, 0], [0, 0, 255], [128, 128, 128]], tf.float32)
    expected = [[100, 0, 0], [0, 0, 0], [53.24, 80.09, 67.20], [32.30, 79.19, -107.86], [53.59, 0, 0]]
    np.testing.assert_allclose(rgb_to_lab(rgb), expected, atol=0.02)
    # Grey loses all chroma: the difference to a colour is its distance from the a*b* origin.
    grey = tf.constant([[[[128.0, 128.0, 128.0]]]])
    red = tf.constant([[[[255.0, 0.0, 0.0]]]])
    np.testing.assert_allclose(chroma_difference(red, grey), math.hypot(80.09, 67.20), rtol=1e-3)
    assert float(chroma_difference(red, red)) < 1e-2
    # Equal images, black, white and out-of-range reconstructions all give finite gradients.
    x = tf.constant([[[[0.0, 0.0, 0.0], [255.0, 255.0, 255.0], [30.0, 200.0, 90.0]]]])
    x_hat = tf.Variable([[[[-20.0, 0.0, 0.0], [255.0, 300.0, 255.0], [30.0, 200.0, 90.0]]]])
    with tf.GradientTape() as tape:
        value = chroma_difference(x, x_hat)
    assert np.all(np.isfinite(tape.gradient(value, x_hat)))


def test_ms_ssim_distortion_and_bad_configurations():
    model = SlimCAE(lambdas=[10.0, 5.0], widths=[6, 4], distortion="ms-ssim")
    loss, bpp, mse = model(tf.random.uniform((1, 64, 64, 3), 0, 255), training=True)
    assert np.isfinite(float(loss)) and float(bpp) > 0
    assert model.family == "slimcae-ms-ssim"  # an RD curve of its own, beside the MSE model's
    with pytest.raises(ValueError, match="strictly decreasing"):
        SlimCAE(lambdas=[1.0, 1.0], widths=[4, 8])
    with pytest.raises(ValueError, match="need 3 lambdas"):
        SlimCAE(lambdas=[1.0], widths=WIDTHS)
    with pytest.raises(ValueError, match="unknown GDN variant"):
        SlimCAE(lambdas=LAMBDAS, widths=WIDTHS, gdn="batchnorm")
    with pytest.raises(ValueError, match="unknown distortion"):
        SlimCAE(lambdas=LAMBDAS, widths=WIDTHS, distortion="lpips")


def test_defaults_follow_seed_001():
    assert registry.model_class("slimcae") is SlimCAE
    np.testing.assert_allclose(np.array(DEFAULT_LAMBDAS) * 255 ** 2, [2048, 1024, 512, 256, 128])


@pytest.mark.parametrize("gdn", ["slimmable", "modulated"])
def test_other_gdn_variants_train_every_parameter(gdn):
    model = SlimCAE(lambdas=LAMBDAS, widths=WIDTHS, gdn=gdn)
    assert model.family == f"slimcae-{gdn}"
    with tf.GradientTape() as tape:
        loss, _, _ = model(tf.random.uniform((1, 32, 32, 3), 0, 255), training=True)
    gradients = tape.gradient(loss, model.trainable_variables)
    assert np.isfinite(float(loss))
    assert [v.name for v, g in zip(model.trainable_variables, gradients) if g is None] == []


def test_coding_round_trip_at_every_width(saved):
    trained = saved.model
    image = smooth_image(37, 53)  # not a multiple of 16
    for index, width in enumerate(WIDTHS):
        y = trained.analyze(image, index)
        assert y.shape == (1, 3, 4, width) and trained.latent_channels(index) == width
        strings, shapes = trained.compress(image, index)
        assert shapes.numpy().tolist() == [[3, 4]]
        decoded = trained.decompress(strings, tf.constant([37, 53]), shapes, index)
        assert decoded.shape == (37, 53, 3) and decoded.dtype == tf.uint8
        # Decoding gives the quantized latents, and the image is their synthesis.
        y_hat = trained.entropy_decode(strings, shapes, index)
        np.testing.assert_array_equal(y_hat, trained.entropy_models[index].quantize(y))
        np.testing.assert_array_equal(decoded, trained.synthesize(y_hat, tf.constant([37, 53]), index))
        # The rate estimate is what the range coder spends (a few bytes of overhead on a tiny image).
        assert abs(float(trained.estimate_bits(image, index)) - 8 * len(strings.numpy()[0])) < 64
    with pytest.raises(tf.errors.InvalidArgumentError, match="width index out of range"):
        trained.compress(image, len(WIDTHS))
    with pytest.raises(tf.errors.InvalidArgumentError, match="not compatible"):
        trained.synthesize(tf.zeros((1, 3, 4, 6)), tf.constant([37, 53]), 0)  # width 8 needs 8 channels


def test_savedmodel_codes_every_width_like_the_model(saved):
    """Saved as the trainer saves models, reloaded without Keras: same tables, strings and pixels."""
    trained, metadata = saved.model, saved.metadata
    assert metadata["architecture"] == "slimcae" and metadata["family"] == "slimcae"
    assert metadata["config"] == dict(lambdas=list(LAMBDAS), widths=list(WIDTHS), gdn="switchable",
                                      distortion="mse", chroma_weight=0.0)
    assert metadata["latent_channels"] == 8 and metadata["latent_strides"] == [16]
    loaded = tf.saved_model.load(saved.path)
    np.testing.assert_array_equal(loaded.entropy_tables(), trained.entropy_tables())
    image = smooth_image(50, 70, seed=3)
    shape = tf.constant([50, 70])
    decoded = []
    for index in range(len(WIDTHS)):
        strings, shapes = trained.compress(image, index)
        loaded_strings, loaded_shapes = loaded.compress(image, index)
        assert strings.numpy().tolist() == loaded_strings.numpy().tolist()
        np.testing.assert_array_equal(shapes, loaded_shapes)
        pixels = trained.decompress(strings, shape, shapes, index).numpy()
        np.testing.assert_array_equal(loaded.decompress(strings, shape, shapes, index), pixels)
        assert float(loaded.estimate_bits(image, index)) == pytest.approx(float(trained.estimate_bits(image, index)))
        decoded.append(pixels)
    # The widths are different codecs: their reconstructions differ.
    assert not np.array_equal(decoded[0], decoded[-1])
    # The metadata's config rebuilds the model, as warm starts and exports do.
    rebuilt = registry.model_class(metadata["architecture"])(**metadata["config"])
    assert rebuilt.widths == WIDTHS


def test_every_width_exports_to_tflite_and_serving_savedmodels(saved, tmp_path):
    """One set of weights, one decoder file per width; the per-width SavedModels decode like the model. The
    narrowest width stands for all: its file holds the sliced weights (at the widest, slicing is the identity;
    a minute per width on 2 cores rebuilding the model's coding tables); tfcomp/export/tflite_kodak.py exports
    every width of the shipped models."""
    from tfcomp.export import savedmodel, tflite, tflite_export

    image = smooth_image(64, 96, seed=5)
    index, width = len(WIDTHS) - 1, WIDTHS[-1]
    exported = tflite_export.ExportedModel(saved.path, index)
    manifest = tflite_export.write(exported, str(tmp_path), ("float32",))  # what export() writes
    assert manifest["name"] == f"slimcae-tiny-w{width}" and manifest["latents"]["channels"] == width
    assert width < WIDTHS[0] and exported.layers[0].kernel.shape[2] == width
    symbols = exported.symbols(image)
    decoder = tflite.Decoder((tmp_path / manifest["files"]["float32"]["file"]).read_bytes())
    reference = np.round(exported.reference(symbols))
    assert np.abs(np.clip(np.round(decoder(symbols)), 0, 255) - reference).max() <= 1
    savedmodel.export("codec", saved.path, str(tmp_path / "codec"), width_index=index)
    codec = tf.saved_model.load(str(tmp_path / "codec"))
    coded = codec.signatures["compress"](image=tf.constant(image))
    strings, shapes = saved.model.compress(image, index)
    assert coded["strings_bytes"].numpy().tolist() == strings.numpy().tolist()


def test_warm_start_copies_matching_widths():
    from tfcomp.training.warm_start import copy_weights

    donor = SlimCAE(lambdas=[0.02, 0.005], widths=[8, 4])
    model = SlimCAE(lambdas=LAMBDAS, widths=WIDTHS)
    report = copy_weights(donor, model)
    # Full-width convolutions and the GDNs and priors of widths 8 and 4 match by name and shape.
    assert report["priors"] == "16/24 variables copied"
    assert report["analysis_transform"] == "16/20 variables copied"
    np.testing.assert_array_equal(model.priors[2].variables[0], donor.priors[1].variables[0])
    # Each part can be frozen, as the trainer's train_step reads it.
    model.freeze(SlimCAE.PARTS)
    assert sum(len(getattr(model, part).trainable_variables) for part in model.PARTS) == len(
        model.trainable_variables)


def test_measure_widths_reports_real_file_sizes(saved):
    trained = saved.model
    image = smooth_image(32, 48, seed=5)
    points = measure_widths(trained, [image])
    assert len(points) == len(WIDTHS)
    for index, (bpp, psnr) in enumerate(points):
        strings, _ = trained.compress(image, index)
        assert bpp == pytest.approx(8 * len(strings.numpy()[0]) / (32 * 48)) and 0 < psnr < 100


def _points(*slopes: float) -> list[tuple[float, float]]:
    """(bpp, PSNR) of widths at bpp 3, 2, 1, ... whose adjacent RD slopes are the given ones."""
    points = [(3.0, 40.0)]
    for slope in slopes:
        points.append((points[-1][0] - 1.0, points[-1][1] - slope))
    return points


def test_rd_slope():
    assert rd_slope((2.0, 30.0), (1.0, 26.0)) == 4.0
    assert rd_slope((1.0, 30.0), (1.0, 26.0)) == math.inf


def test_schedule_stops_a_pair_when_its_slope_rises():
    # Pair 0 starts at slope 10 and falls to 9 and 8, then rises to 8.5: three tries. Pair 1 starts from
    # the last measurement (slope 5) and rises at once to 6: one try.
    measurements = iter([_points(10, 5), _points(9, 5), _points(8, 5), _points(8.5, 5), _points(8.5, 6)])
    trained_with = []
    lambdas, tries = schedule_lambdas([1.0, 1.0, 1.0], trained_with.append, lambda: next(measurements))
    np.testing.assert_allclose(lambdas, [1.0, 0.8 ** 3, 0.8 ** 4])
    np.testing.assert_allclose(trained_with, [[1, 0.8, 0.8], [1, 0.64, 0.64], [1, 0.512, 0.512],
                                              [1, 0.512, 0.4096]])
    assert [(t.pair, t.attempt, t.slope_before, t.slope) for t in tries] == [
        (0, 1, 10, 9), (0, 2, 9, 8), (0, 3, 8, 8.5), (1, 1, 5, 6)]
    assert next(measurements, None) is None


def test_schedule_gives_up_after_seven_tries_per_pair():
    calls = []
    lambdas, tries = schedule_lambdas([2.0, 1.0, 0.5], calls.append, lambda: _points(4, 4))
    assert len(calls) == len(tries) == 14 and [t.attempt for t in tries] == list(range(1, 8)) * 2
    np.testing.assert_allclose(lambdas, [2.0, 0.8 ** 7, 0.5 * 0.8 ** 14])


def test_cli_codes_every_width_and_files_remember_theirs(cli, saved, tmp_path):
    """`tfcomp compress -m slimcae --width W` writes the files this process writes; one `tfcomp decompress` of
    them all decodes each to the pixels this process decodes, its width read back from the file; -q picks
    widths narrowest first."""
    import json
    import os

    from PIL import Image

    from tfcomp.codecs import container
    from tfcomp.codecs.learned import LearnedCodec

    zoo = tmp_path / "zoo"
    zoo.mkdir()
    os.symlink(saved.path, zoo / "slimcae-tiny")
    (zoo / "zoo.json").write_text(json.dumps({"default": "slimcae-tiny"}))
    env = {"TFCOMP_MODELS": str(zoo)}
    source = tmp_path / "photo.png"
    Image.fromarray(smooth_image(48, 80, seed=5)).save(source)
    image = np.asarray(Image.open(source))
    for index, width in enumerate(WIDTHS):
        target = tmp_path / f"w{width}.tfc"
        cli.run("compress", "-m", "slimcae", "--width", str(width), str(source), str(target), env=env, check=True)
        assert target.read_bytes() == LearnedCodec(saved.path, index).encode(image)
    cli.run("decompress", *(str(tmp_path / f"w{width}.tfc") for width in WIDTHS), env=env, check=True)
    for index, width in enumerate(WIDTHS):
        target = tmp_path / f"w{width}.tfc"
        data = target.read_bytes()
        assert container.unpack(data).variant == index
        decoded = np.asarray(Image.open(str(target) + ".png"))
        np.testing.assert_array_equal(decoded, LearnedCodec(saved.path, index).decode(data))
    cli.run("compress", "-q", "1", str(source), str(tmp_path / "q1.tfc"), env=env, check=True)
    assert container.unpack((tmp_path / "q1.tfc").read_bytes()).variant == len(WIDTHS) - 1
    bad = cli.run("compress", "--width", "5", str(source), str(tmp_path / "bad.tfc"), env=env)
    assert bad.returncode == 2 and "no width 5" in bad.stderr and not (tmp_path / "bad.tfc").exists()
    c = container.unpack((tmp_path / "w8.tfc").read_bytes())
    (tmp_path / "v9.tfc").write_bytes(container.pack(container.Container(**{**c.__dict__, "variant": 9})))
    corrupt = cli.run("decompress", str(tmp_path / "v9.tfc"), env=env)
    assert corrupt.returncode == 2 and "width index 9" in corrupt.stderr


@pytest.mark.slow
def test_lambda_schedule_runs_as_a_training_option(image_folder, tmp_path):
    out = tmp_path / "model"
    # Two widths: one pair, at most seven tries (each measurement takes seconds even on this tiny model).
    run_tfcomp("train", "-a", "slimcae", "--widths", "8,4", "--lambdas", "0.02,0.01",
               "--train-data", image_folder, "--no-downsample", "--patch", "64", "--batch", "2", "--steps", "10",
               "--steps-per-epoch", "10", "--lambda-schedule-steps", "1", "--workdir", str(tmp_path / "work"),
               str(out), check=True)
    meta = json.loads((out / "metadata.json").read_text())
    schedule = meta["training"]["lambda_schedule"]
    assert schedule["initial_lambdas"] == pytest.approx([0.02, 0.01]) and 1 <= len(schedule["tries"]) <= 7
    assert schedule["steps"] == len(schedule["tries"])
    final = schedule["final_lambdas"]
    # The widest width keeps its lambda; every try scaled the narrower one down by 0.8.
    assert final == pytest.approx([0.02, 0.01 * 0.8 ** len(schedule["tries"])])
    assert meta["config"]["lambdas"] == pytest.approx(final)


def test_lambda_schedule_needs_a_slimmable_model(cli, image_folder, tmp_path):
    result = cli.run("train", "--train-data", image_folder, "--lambda-schedule-steps", "5",
                        "--workdir", str(tmp_path / "w"), str(tmp_path / "m"))
    assert result.returncode == 2 and "slimcae" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "m").exists()
