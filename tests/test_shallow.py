"""The shallow per-image autoencoder: architecture, file layout and size, feasibility, padding,
reproducibility, the registry and the CLI.

Training runs for one or two epochs (the tests check code paths, not quality) on generated 256x256-ish
images: the smallest sizes the feasibility criterion lets code 32 compress (its decoder alone is 178 kB).
"""
import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from conftest import smooth_image
from test_cli import assert_clean_failure
from tfcomp import registry
from tfcomp.cli.main import main
from tfcomp.codecs import container, shallow
from tfcomp.codecs.shallow import ShallowCodec
from tfcomp.errors import TfcompError

IMAGE = smooth_image(256, 256, seed=3)      # 8x8 blocks: feasible for code 32, not for code 64
ODD = smooth_image(250, 270, seed=4)        # 8x9 blocks, the last row and column partly padding


def spied_encode(codec: ShallowCodec, image: np.ndarray, monkeypatch) -> tuple[bytes, dict]:
    """Encodes, keeping the blocks the codec trained on and the trained encoder and decoder."""
    seen = {}
    train = codec.train

    def spy(blocks):
        seen["blocks"] = blocks
        seen["encoder"], seen["decoder"] = train(blocks)
        return seen["encoder"], seen["decoder"]

    monkeypatch.setattr(codec, "train", spy)
    return codec.encode(image), seen


@pytest.fixture(scope="module")
def cnn_file() -> bytes:
    """IMAGE coded by shallow-cnn-c32 after one epoch."""
    return ShallowCodec("cnn", 32, epochs=1, progress=False).encode(IMAGE)


def test_decoder_has_the_seeds_size_and_the_lstm_layer_is_keras_conv_lstm():
    assert shallow.build_decoder(64).count_params() == 175_584  # the paper's decoder for code 64
    inputs = tf.keras.Input((shallow.BLOCK, shallow.BLOCK, 3))
    ours = tf.keras.Model(inputs, shallow.one_step_conv_lstm(inputs, 8))
    keras = tf.keras.layers.ConvLSTM2D(8, 3, strides=2, activation="relu")
    blocks = np.random.default_rng(0).uniform(0, 1, (4, shallow.BLOCK, shallow.BLOCK, 3)).astype(np.float32)
    keras(blocks[:, None])
    kernel, recurrent, bias = keras.get_weights()
    bias = np.random.default_rng(1).normal(0, 1, bias.shape).astype(np.float32)  # make every gate matter
    keras.set_weights([kernel, recurrent, bias])
    [conv] = [layer for layer in ours.layers if isinstance(layer, tf.keras.layers.Conv2D)]
    conv.set_weights([kernel, bias])
    expected = keras(blocks[:, None]).numpy()
    assert expected.shape == (4, 15, 15, 8) and expected.std() > 0.01
    np.testing.assert_allclose(ours(blocks).numpy(), expected, atol=1e-5)


def test_file_is_decoder_plus_codes_plus_header(cnn_file):
    codec = ShallowCodec("cnn", 32)
    name = len(codec.name)
    documented = 37 + name + 8 * 3 + 2 * ((32 + 1) * 2700 + 84) + 2 * 32 * 8 * 8
    assert len(cnn_file) == codec.file_size(256, 256) == documented == 182_540
    c = container.unpack(cnn_file)
    assert c.model == "shallow-cnn-c32" and c.latent_shapes == ((33, 2700), (1, 84), (8, 8))
    assert tuple(map(len, c.strings)) == (33 * 2700 * 2, 84 * 2, 8 * 8 * 32 * 2)
    codes = np.frombuffer(c.strings[2], "<f2")
    assert np.abs(codes).max() <= 1 and codes.std() > 0  # tanh codes, not all alike


@pytest.mark.parametrize("variant", shallow.VARIANTS)
def test_round_trip_decodes_the_trained_network_and_is_reproducible(variant, monkeypatch):
    codec = ShallowCodec(variant, 32, epochs=1, progress=False)
    data, seen = spied_encode(codec, IMAGE, monkeypatch)
    decoded = codec.decode(data)
    assert decoded.shape == IMAGE.shape and decoded.dtype == np.uint8
    # The file decodes to what the trained float32 network outputs, up to float16 storage.
    blocks = seen["decoder"](seen["encoder"](seen["blocks"], training=False)).numpy()
    expected = shallow.from_blocks(255 * blocks.reshape(64, -1), (8, 8), 32, 256, 256)
    difference = np.abs(decoded - expected)
    assert difference.max() < 3 and difference.mean() < 0.5
    assert ShallowCodec(variant, 32, epochs=1, progress=False).encode(IMAGE) == data  # fixed seed


def test_sizes_that_are_not_multiples_of_32_are_edge_padded_and_cropped(monkeypatch):
    codec = ShallowCodec("cnn", 32, epochs=1, progress=False)
    data, seen = spied_encode(codec, ODD, monkeypatch)
    assert container.unpack(data).latent_shapes[2] == (8, 9) and len(data) == codec.file_size(250, 270)
    padded = shallow.from_blocks(seen["blocks"].reshape(72, -1), (8, 9), 32, 256, 288)
    np.testing.assert_array_equal(np.round(255 * padded).astype(np.uint8)[:250, :270], ODD)
    np.testing.assert_array_equal(padded[250:], np.repeat(padded[249:250], 6, axis=0))  # edge rows replicated
    np.testing.assert_array_equal(padded[:, 270:], np.repeat(padded[:, 269:270], 18, axis=1))
    assert codec.decode(data).shape == ODD.shape


def test_feasibility_is_checked_before_training(monkeypatch):
    assert ShallowCodec("lstm", 32).file_size(256, 256) < 3 * 256 * 256 <= ShallowCodec("lstm", 64).file_size(256, 256)
    codec = ShallowCodec("cnn", 64)
    monkeypatch.setattr(codec, "train", lambda blocks: pytest.fail("trained an infeasible setting"))
    message = r"cannot compress a 256x256 image: decoder 351168 B \+ codes 8192 B \+ header = 359436 B, not less than"
    with pytest.raises(TfcompError, match=message + " the raw 196608 B"):
        codec.encode(IMAGE)
    with pytest.raises(TfcompError, match="cannot compress"):
        ShallowCodec("cnn", 32).encode(IMAGE[:200])


def test_registry_names_sweep_and_quality_rungs():
    assert registry.codec("shallow").name == "shallow-lstm-c64"
    assert registry.codec("shallow-cnn-c80").name == "shallow-cnn-c80"
    sweep = registry.codec_family("shallow")
    assert [c.name for c in sweep] == [f"shallow-{v}-c{n}" for n in (32, 64, 80) for v in ("cnn", "lstm")]
    sizes = [c.file_size(512, 768) for c in sweep]
    assert sizes == sorted(sizes) and all(c.family == "shallow" for c in sweep)
    assert registry.rung("shallow", 3).name == "shallow-cnn-c64"
    assert registry.file_codec("shallow-lstm-c32").name == "shallow-lstm-c32"
    with pytest.raises(TfcompError, match="1..6"):
        registry.rung("shallow", 7)
    with pytest.raises(TfcompError, match="1..1024"):
        registry.codec("shallow-cnn-c0")
    with pytest.raises(TfcompError, match="unknown model"):
        registry.codec("shallow-gru-c64")


def test_decode_file_dispatches_on_the_header_and_checks_it(cnn_file):
    image, c = registry.decode_file(cnn_file)
    np.testing.assert_array_equal(image, ShallowCodec("cnn", 32).decode(cnn_file))
    with pytest.raises(TfcompError, match="not 'shallow-lstm-c32'"):
        ShallowCodec("lstm", 32).decode(cnn_file)
    nan_codes = np.frombuffer(c.strings[2], "<f2").copy()
    nan_codes[5] = np.nan
    for bad, message in [
        (dataclasses.replace(c, table_hash=bytes(16)), "format hash"),
        (dataclasses.replace(c, latent_shapes=(c.latent_shapes[0], c.latent_shapes[1], (8, 7))), "part shapes"),
        (dataclasses.replace(c, strings=(c.strings[0], c.strings[1] + b"\0\0", c.strings[2][2:])), "part shapes"),
        (dataclasses.replace(c, strings=(*c.strings[:2], nan_codes.tobytes())), "out of range"),
    ]:
        with pytest.raises(TfcompError, match=message):
            registry.decode_file(container.pack(bad))


@pytest.mark.slow
def test_cli_trains_with_a_progress_bar_and_decodes_in_another_process(cli, tmp_path):
    photo = tmp_path / "photo.png"
    Image.fromarray(IMAGE).save(photo)
    result = cli.run("compress", "-m", "shallow", "-q", "1", str(photo), check=True)  # rung 1: cnn, code 32
    assert "model shallow-cnn-c32" in result.stdout and "training shallow-cnn-c32" in result.stderr
    cli.run("decompress", str(tmp_path / "photo.tfc"), check=True)
    data = (tmp_path / "photo.tfc").read_bytes()
    assert len(data) == ShallowCodec("cnn", 32).file_size(256, 256)
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "photo.tfc.png")),
                                  ShallowCodec("cnn", 32).decode(data))


def test_cli_rejects_an_infeasible_setting_in_one_line_without_training(tmp_path, capsys, monkeypatch):
    photo, infeasible = tmp_path / "photo.png", tmp_path / "c64.tfc"
    Image.fromarray(IMAGE).save(photo)
    monkeypatch.setattr(ShallowCodec, "train", lambda self, blocks: pytest.fail("trained an infeasible setting"))
    returncode = main(["compress", "-m", "shallow-cnn-c64", str(photo), str(infeasible)])  # in process: fast
    assert_clean_failure(SimpleNamespace(returncode=returncode, stderr=capsys.readouterr().err), str(infeasible))
