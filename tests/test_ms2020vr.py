"""The product codec (ms2020vr): fixed-point parameter networks, continuous quality, files that decode in
other processes and on other CPU kernels, quality search, corrupt files, resuming a killed run."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import zlib

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from conftest import REPO, kill_training_after, run_tfcomp, smooth_image
from tfcomp import registry
from tfcomp.codecs import container, ladder
from tfcomp.codecs.learned import LearnedCodec
from tfcomp.errors import TfcompError
from tfcomp.layers.exact import ACTIVATION_BITS, WEIGHT_BITS, ExactConv2D, ExactNetwork, to_fixed_point

TINY_VR = "ms2020vr-tiny"
TRAIN_TINY = ["train", "-a", "ms2020vr", "-N", "16", "--slices", "2", "--hyper-filters", "16", "--slice-filters", "16",
              "--lambdas", "0.01,0.05,0.2", "--no-downsample", "--patch", "64", "--batch", "2", "--lr", "1e-3"]


def _network(seed: int = 0) -> ExactNetwork:
    tf.keras.utils.set_random_seed(seed)
    network = ExactNetwork([ExactConv2D(12, 3, upsample=2), ExactConv2D(8, 3), ExactConv2D(6, 3, relu=False)])
    network(tf.zeros((1, 4, 4, 5)))
    return network


def _fixed_point_inputs(seed: int = 1) -> np.ndarray:
    """Latent-like values with ACTIVATION_BITS fractional bits, as decoded slices are."""
    rng = np.random.default_rng(seed)
    return np.round(rng.normal(0, 8, (1, 6, 7, 5)) * 2 ** ACTIVATION_BITS) / 2 ** ACTIVATION_BITS


def _numpy_exact(network: ExactNetwork, x: np.ndarray) -> np.ndarray:
    """The fixed-point network in int64 numpy, written independently of TensorFlow's convolution."""
    limit = int(2 ** 10 * 2 ** ACTIVATION_BITS)
    u = np.clip(np.round(x * 2 ** ACTIVATION_BITS).astype(np.int64), -limit, limit)
    for conv in network.convs:
        kernel, bias = (w.numpy().astype(np.int64) for w in conv.integer_weights())
        k = kernel.shape[0]
        padded = np.pad(u, ((0, 0), (k // 2, k // 2), (k // 2, k // 2), (0, 0)))
        sums = np.zeros(u.shape[:3] + (kernel.shape[3],), np.int64) + bias
        for dy in range(k):
            for dx in range(k):
                sums += np.einsum("bhwc,cd->bhwd", padded[:, dy:dy + u.shape[1], dx:dx + u.shape[2]], kernel[dy, dx])
        values = (sums + 2 ** (WEIGHT_BITS - 1)) >> WEIGHT_BITS  # floor(v / 2^14 + 1/2)
        if conv.upsample > 1:
            values = tf.nn.depth_to_space(values, conv.upsample).numpy()
        if conv.relu:
            values = np.maximum(values, 0)
        u = np.clip(values, -limit, limit)
    return u


def test_fixed_point_network_is_integer_arithmetic():
    # Exact equality is the promise: the float64 path's sums are integers below 2^52, so TensorFlow's
    # convolution (any kernel, any summation order) must give what int64 arithmetic gives.
    network = _network()
    x = _fixed_point_inputs()
    exact = network.exact(to_fixed_point(tf.constant(x))).numpy()
    np.testing.assert_array_equal(exact, _numpy_exact(network, x).astype(np.float64))


def test_fixed_point_network_follows_the_float_network():
    # Weights are rounded to 2^-14 and activations to 2^-10 at each of three layers; for these magnitudes
    # (outputs of order 10) the accumulated difference stays below 0.02, far under the training noise (+-0.5).
    network = _network()
    x = _fixed_point_inputs()
    exact = network.exact(to_fixed_point(tf.constant(x))).numpy() / 2 ** ACTIVATION_BITS
    np.testing.assert_allclose(exact, network(tf.constant(x, tf.float32)).numpy(), atol=0.02)


def test_bounds_check_rejects_weights_whose_sums_would_round():
    network = _network()
    network.convs[1].kernel.assign(tf.fill(network.convs[1].kernel.shape, 1e6))
    with pytest.raises(ValueError, match="too large"):
        network.check_bounds()


@pytest.fixture(scope="module")
def vr_zoo(tmp_path_factory, image_folder) -> str:
    """A zoo with a tiny three-level ms2020vr model (N=16, two slices, 20 steps)."""
    root = tmp_path_factory.mktemp("vr-zoo")
    run_tfcomp(*TRAIN_TINY, "--train-data", image_folder, "--steps", "20", "--steps-per-epoch", "10",
               "--workdir", str(tmp_path_factory.mktemp("vr-work")), str(root / TINY_VR), check=True)
    (root / "zoo.json").write_text(json.dumps({"default": TINY_VR, "architecture_defaults": {}}))
    return str(root)


@pytest.fixture()
def vr_env(vr_zoo, monkeypatch) -> dict:
    monkeypatch.setenv("TFCOMP_MODELS", vr_zoo)
    from tfcomp import zoo

    zoo._index.cache_clear()
    return {"TFCOMP_MODELS": vr_zoo}


DECODE_FILES = """
import sys, numpy as np
from tfcomp import registry
for path in sys.argv[1:]:
    image, c = registry.decode_file(open(path, 'rb').read())
    np.save(path + '.npy', image)
"""


def _decode_elsewhere(paths: list[str], env: dict) -> list[np.ndarray]:
    subprocess.run([sys.executable, "-c", DECODE_FILES, *paths], check=True, cwd=REPO, env={**os.environ, **env})
    return [np.load(path + ".npy") for path in paths]


def test_files_at_three_qualities_decode_identically_in_another_process(vr_env, tmp_path):
    image = smooth_image(80, 112, seed=3)
    codec = LearnedCodec(os.path.join(vr_env["TFCOMP_MODELS"], TINY_VR))
    paths, here = [], []
    for quality in (1.0, 2.345, 3.0):
        codec.set_quality(quality)
        data = codec.encode(image)
        assert container.unpack(data).quality == quality  # recorded, so decoding needs no flag
        paths.append(str(tmp_path / f"q{quality}.tfc"))
        open(paths[-1], "wb").write(data)
        here.append(LearnedCodec(codec.path).decode(data))
    for mine, theirs in zip(here, _decode_elsewhere(paths, vr_env)):
        np.testing.assert_array_equal(mine, theirs)  # same model, same kernels: same pixels


def test_quality_is_continuous_and_checked(vr_env):
    path = os.path.join(vr_env["TFCOMP_MODELS"], TINY_VR)
    assert [c.name for c in ladder.ladder(TINY_VR)] == [f"{TINY_VR}-q1", f"{TINY_VR}-q2", f"{TINY_VR}-q3"]
    assert registry.rung(TINY_VR, 2.5).quality == 2.5
    with pytest.raises(TfcompError, match="quality must be 1..3"):
        LearnedCodec(path, quality=3.5)


def test_target_bpp_lands_within_three_percent_below_the_target(vr_env):
    image = smooth_image(96, 128, seed=5)
    codec = LearnedCodec(os.path.join(vr_env["TFCOMP_MODELS"], TINY_VR))
    sizes = []
    for quality in (1.0, 3.0):
        codec.set_quality(quality)
        sizes.append(len(codec.encode(image)) * 8 / image[..., 0].size)
    target = float(np.mean(sizes))
    choice = ladder.choose_quality(codec, image, target_bpp=target)
    assert choice.warning is None
    assert (1 - ladder.BPP_TOLERANCE) * target <= choice.bpp <= target or \
        choice.codec.quality in (1.0, 3.0), (choice.bpp, target)
    low = ladder.choose_quality(codec, image, target_bpp=sizes[0] / 2)
    assert low.warning and low.codec.quality == 1.0


def _fix_crc(data: bytearray) -> bytes:
    data[-4:] = zlib.crc32(bytes(data[:-4])).to_bytes(4, "big")
    return bytes(data)


def test_corrupt_payloads_are_refused_with_one_line(vr_env, tmp_path):
    image = smooth_image(64, 64, seed=7)
    codec = LearnedCodec(os.path.join(vr_env["TFCOMP_MODELS"], TINY_VR), quality=2.0)
    data = codec.encode(image)
    header = len(data) - 4 - sum(len(s) for s in container.unpack(data).strings)
    rng = np.random.default_rng(0)
    refused = []
    for _ in range(30):
        corrupt = bytearray(data)
        for position in rng.integers(header, len(data) - 4, 3):
            corrupt[position] ^= int(rng.integers(1, 256))
        try:
            decoded = LearnedCodec(codec.path).decode(_fix_crc(corrupt))
            assert decoded.shape == image.shape  # some corruptions still decode to an image of the right size
        except TfcompError:
            refused.append(_fix_crc(corrupt))
    assert refused
    path = tmp_path / "bad.tfc"
    path.write_bytes(refused[0])
    result = run_tfcomp("decompress", str(path), env=vr_env)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "tfcomp: error:" in result.stderr
    assert not os.path.exists(str(path) + ".png")


@pytest.mark.slow
def test_files_decode_on_other_cpu_kernels(vr_env, tmp_path):
    # oneDNN on and off stand for two kinds of machine: the latents must be identical, and the float
    # synthesis may differ by one grey level at most.
    image = smooth_image(96, 128, seed=11)
    source = tmp_path / "image.png"
    Image.fromarray(image).save(source)
    outputs = {}
    for encoder in ("0", "1"):
        encoded = tmp_path / f"enc{encoder}.tfc"
        run_tfcomp("compress", "-q", "2.5", str(source), str(encoded),
                   env={**vr_env, "TF_ENABLE_ONEDNN_OPTS": encoder}, check=True)
        for decoder in ("0", "1"):
            outputs[encoder, decoder] = _decode_elsewhere([str(encoded)],
                                                          {**vr_env, "TF_ENABLE_ONEDNN_OPTS": decoder})[0]
    assert (tmp_path / "enc0.tfc").read_bytes() == (tmp_path / "enc1.tfc").read_bytes()
    for (encoder, decoder), pixels in outputs.items():
        difference = np.abs(pixels.astype(int) - outputs[decoder, decoder].astype(int)).max()
        assert difference <= 1, (encoder, decoder, difference)


@pytest.mark.slow
def test_a_killed_run_resumes_to_its_full_step_count(image_folder, tmp_path):
    workdir, output = tmp_path / "work", tmp_path / "model"
    args = [*TRAIN_TINY, "--train-data", image_folder, "--steps", "60", "--steps-per-epoch", "10",
            "--workdir", str(workdir), str(output)]
    killed_at = kill_training_after(args, workdir, 20, timeout=300)
    assert 20 <= killed_at < 60 and not output.exists()
    run_tfcomp(*args, check=True)
    training = json.loads((output / "metadata.json").read_text())["training"]
    assert training["steps"] == 60 and training["runs"] == 2


def test_serving_savedmodel_takes_the_quality(vr_env, tmp_path):
    """The codec SavedModel of a variable-rate model: compress/decompress take the quality, give the files'
    strings and pixels, and refuse a quality outside the model's range; the transforms kind is refused."""
    import tensorflow_compression  # noqa: F401 (the range-coding ops the SavedModel uses)

    from tfcomp.export import savedmodel

    path = os.path.join(vr_env["TFCOMP_MODELS"], TINY_VR)
    record = savedmodel.export("codec", path, str(tmp_path / "serving"))
    assert record["quality_range"] == [1.0, 3.0]
    served = tf.saved_model.load(str(tmp_path / "serving"))
    image = smooth_image(64, 80, seed=13)
    codec = LearnedCodec(path, quality=2.5)
    data = container.unpack(codec.encode(image))
    out = served.signatures["compress"](image=tf.constant(image), quality=tf.constant(2.5))
    assert [bytes(s) for s in out["strings_bytes"].numpy()] == list(data.strings)
    decoded = served.signatures["decompress"](strings_bytes=out["strings_bytes"], image_shape=out["image_shape"],
                                              latent_shapes=out["latent_shapes"], quality=tf.constant(2.5))
    np.testing.assert_array_equal(decoded["image"].numpy(), codec.decode(codec.encode(image)))
    with pytest.raises(tf.errors.InvalidArgumentError, match="quality must be 1..3"):
        served.signatures["compress"](image=tf.constant(image), quality=tf.constant(3.5))
    with pytest.raises(TfcompError, match="variable-rate"):
        savedmodel.export("transforms", path, str(tmp_path / "transforms"))


def test_soft_rounding_stays_between_floor_and_ceiling_and_rounds_when_cold():
    from tfcomp.models.ms2020vr import soft_round_sample

    values = tf.constant(np.random.default_rng(0).uniform(-5, 5, 1000), tf.float32)
    warm = soft_round_sample(values, tf.constant(0.5), tf.constant([1, 2])).numpy()
    assert np.all(warm >= np.floor(values.numpy())) and np.all(warm <= np.floor(values.numpy()) + 1)
    assert not np.allclose(warm, np.round(warm))  # warm: between the integers
    clear = values.numpy()[np.abs(values.numpy() - np.round(values.numpy())) < 0.3]
    cold = soft_round_sample(tf.constant(clear), tf.constant(0.01), tf.constant([1, 2])).numpy()
    np.testing.assert_allclose(cold, np.round(clear), atol=1e-4)


def test_adam_on_tensors_follows_keras_adam():
    from tfcomp.models.ms2020vr import adam_step

    target = tf.constant([3.0, -1.0, 0.5])
    variable, optimizer = tf.Variable(tf.zeros(3)), tf.keras.optimizers.Adam(0.1)
    values, first, second = [tf.zeros(3)], [tf.zeros(3)], [tf.zeros(3)]
    for t in range(5):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.square(variable - target))
        optimizer.apply_gradients([(tape.gradient(loss, variable), variable)])
        values, first, second = adam_step(tf.constant(t), values, [2.0 * (values[0] - target)], first, second, 0.1)
    np.testing.assert_allclose(values[0].numpy(), variable.numpy(), rtol=1e-4, atol=1e-5)


def _rd_cost(codec: LearnedCodec, image: np.ndarray, data: bytes, lmbda: float) -> float:
    """bits per pixel + lambda * MSE of a file, the loss the model trains and refines on."""
    decoded = codec.decode(data).astype(np.float64)
    return len(data) * 8 / image[..., 0].size + lmbda * float(np.mean((decoded - image) ** 2))


def test_refined_files_cost_less_and_decode_as_usual(vr_env):
    image = smooth_image(96, 128, seed=7)
    path = os.path.join(vr_env["TFCOMP_MODELS"], TINY_VR)
    plain, refined = LearnedCodec(path, quality=2.0), LearnedCodec(path, quality=2.0, refine=40)
    assert refined.name == f"{TINY_VR}-q2-refine40" and refined.family.endswith("-refine40")
    before, after = plain.encode(image), refined.encode(image)
    assert after == refined.encode(image)  # seeded: the same file every time
    lmbda = json.load(open(os.path.join(path, "metadata.json")))["config"]["lambdas"][1]
    assert _rd_cost(plain, image, after, lmbda) < _rd_cost(plain, image, before, lmbda)
    zero = plain.model.compress_refined(image, tf.constant(2.0), tf.constant(0))
    assert zero[0].numpy().tolist() == plain.model.compress(image, tf.constant(2.0))[0].numpy().tolist()
    assert [c.name for c in registry.codec_family(f"{TINY_VR}-refine40")] == \
        [f"{TINY_VR}-q{q}-refine40" for q in (1, 2, 3)]


def test_refine_is_refused_in_one_line_where_it_cannot_run(vr_env, tmp_path):
    source = tmp_path / "photo.png"
    Image.fromarray(smooth_image(96, 128, seed=8)).save(source)
    for flags, message in ((["--refine", "-1"], "--refine must be 0 or more steps"),
                           (["--refine", "5", "--tile", "32"], "--refine codes images in one piece")):
        result = run_tfcomp("compress", "-m", TINY_VR, *flags, str(source), str(tmp_path / "out.tfc"), env=vr_env)
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2 and len(lines) == 1 and message in lines[0], result.stderr
        assert not (tmp_path / "out.tfc").exists()


def test_more_levels_warm_start_from_fewer_by_extrapolating_the_gains():
    from tfcomp.models.ms2020vr import MS2020VR
    from tfcomp.training.warm_start import copy_weights

    tiny = dict(num_filters=8, num_slices=2, num_hyper_filters=8, slice_filters=8)
    donor = MS2020VR(lambdas=(0.01, 0.05, 0.25), **tiny)
    rng = np.random.default_rng(0)
    for variable in donor.gain_units.weights:
        variable.assign(rng.normal(size=variable.shape).astype(np.float32))
    model = MS2020VR(lambdas=(0.0004, 0.002, 0.01, 0.05, 0.25, 1.25), **tiny)
    report = copy_weights(donor, model)
    assert "3 levels extrapolated" in report["gain_units"]
    for old, new in zip(donor.gain_units.weights, model.gain_units.weights):
        old, new = old.numpy(), new.numpy()
        np.testing.assert_allclose(new[2:5], old, rtol=1e-6)
        step_down, step_up = old[0] - old[1], old[2] - old[1]
        np.testing.assert_allclose(new[:2], [old[0] + 2 * step_down, old[0] + step_down], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(new[5], old[2] + step_up, rtol=1e-5, atol=1e-6)
    # Lambdas that do not continue the donor's: the gains keep their initial values.
    other = MS2020VR(lambdas=(0.003, 0.03, 0.3, 3.0), **tiny)
    initial = [v.numpy() for v in other.gain_units.weights]
    assert "extrapolated" not in copy_weights(donor, other)["gain_units"]
    for value, variable in zip(initial, other.gain_units.weights):
        np.testing.assert_array_equal(value, variable.numpy())
