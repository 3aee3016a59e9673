"""The KLT block codec: its shipped basis, round trips, the registry, the container checks and the CLI."""
import dataclasses
import os
import shutil

import numpy as np
import pytest
from PIL import Image

from conftest import smooth_image
from test_cli import assert_clean_failure
from tfcomp import registry
from tfcomp.codecs import container, klt
from tfcomp.codecs.klt import KLTCodec
from tfcomp.data.images import read_image
from tfcomp.errors import TfcompError
from tfcomp.evaluation import metrics
from tfcomp.samples import __file__ as samples_init

SAMPLE = read_image(samples_init.replace("__init__.py", "kodim23.png"))[0][128:256, 256:448]


def test_shipped_basis_is_orthonormal_and_learned_off_kodak():
    basis = klt.load_basis()
    dims = basis["block"] ** 2 * 3
    b = basis["basis"].astype(np.float64)
    assert b.shape == (dims, dims) and basis["mean"].shape == (dims,)
    np.testing.assert_allclose(b @ b.T, np.eye(dims), atol=1e-5)
    assert np.all(np.diff(basis["eigenvalues"]) <= 0)  # components by decreasing variance
    meta = basis["metadata"]
    assert "bsds500" in meta["image_dir"] and "kodak" not in meta["image_dir"].lower()
    assert meta["blocks"] == meta["images"] * meta["blocks_per_image"] and "seed" in meta


def test_blocks_and_prediction_invert_exactly():
    image = smooth_image(21, 30)
    vectors, grid = klt.to_blocks(image, 8)
    assert grid == (3, 4) and vectors.shape == (12, 192)
    np.testing.assert_array_equal(klt.from_blocks(vectors, grid, 8, 21, 30), image)
    values = np.random.default_rng(0).integers(-50, 50, (5, 7, 6))
    flags = np.array([True, False, True, True, False, False])
    np.testing.assert_array_equal(klt.unpredict(klt.predict(values, flags), flags), values)


def test_round_trip_rate_and_quality_grow_with_the_setting():
    sizes, psnrs = [], []
    for codec in KLTCodec.sweep()[::2]:
        data = codec.encode(SAMPLE)
        decoded = codec.decode(data)
        assert decoded.shape == SAMPLE.shape and decoded.dtype == np.uint8
        sizes.append(len(data))
        psnrs.append(metrics.psnr(SAMPLE, decoded))
    assert sizes == sorted(sizes) and len(set(sizes)) == len(sizes)
    assert psnrs == sorted(psnrs) and psnrs[0] > 24 and psnrs[-1] > 38


@pytest.mark.parametrize("shape", [(1, 1), (7, 13), (33, 17), (64, 8)])
def test_odd_image_sizes(shape):
    image = smooth_image(*shape, seed=1)
    codec = KLTCodec(90)
    decoded = codec.decode(codec.encode(image))
    assert decoded.shape == image.shape
    assert metrics.psnr(image, decoded) > 35


def test_registry_names_and_sweep():
    assert registry.codec("klt-q30").name == "klt-q30" and registry.codec("klt").name == "klt-q50"
    assert [c.name for c in registry.codec_family("klt")] == [f"klt-q{q}" for q in klt.SWEEP]
    assert all(c.family == "klt" for c in registry.codec_family("klt"))
    assert "klt" in registry.BASELINE_FAMILIES
    with pytest.raises(TfcompError, match="1..100"):
        registry.codec("klt-q101")


def test_at_least_finds_the_lowest_quality_not_smaller_than_the_target():
    target = len(KLTCodec(40).encode(SAMPLE))
    codec, data = KLTCodec.at_least(SAMPLE, target)
    assert len(data) >= target and codec.quality <= 40
    assert len(KLTCodec(codec.quality - 1).encode(SAMPLE)) < target


def test_decode_file_dispatches_on_the_header_and_checks_it():
    data = KLTCodec(30).encode(SAMPLE, grayscale=True)
    image, c = registry.decode_file(data)
    np.testing.assert_array_equal(image, KLTCodec(30).decode(data))
    assert c.model == "klt-q30" and c.channels == 1
    with pytest.raises(TfcompError, match="not 'klt-q50'"):
        KLTCodec(50).decode(data)
    parsed = container.unpack(data)
    for bad, message in [
        (dataclasses.replace(parsed, table_hash=bytes(16)), "basis hash"),
        (dataclasses.replace(parsed, latent_shapes=((1, 192), (1, 1))), "part shapes"),
        (dataclasses.replace(parsed, strings=(b"\x7f" * 192, parsed.strings[1])), "scale index"),
    ]:
        with pytest.raises(TfcompError, match=message):
            registry.decode_file(container.pack(bad))


def test_cli_round_trip_in_a_separate_process_and_bad_input(cli, tmp_path):
    photo = tmp_path / "photo.png"
    Image.fromarray(SAMPLE).save(photo)
    result = cli.run("compress", "-m", "klt-q40", str(photo), check=True)
    assert "klt-q40" in result.stdout and "bpp" in result.stdout
    cli.run("decompress", str(tmp_path / "photo.tfc"), check=True)
    data = (tmp_path / "photo.tfc").read_bytes()
    # The other process wrote the file this one writes, and decoded it to the same pixels.
    assert KLTCodec(40).encode(SAMPLE) == data
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "photo.tfc.png")), KLTCodec(40).decode(data))

    truncated = tmp_path / "truncated.tfc"
    truncated.write_bytes(data[:-10])
    assert_clean_failure(cli.run("decompress", str(truncated)), str(truncated) + ".png")
    assert_clean_failure(cli.run("compress", "-m", "klt-q0", str(photo), str(tmp_path / "q0.tfc")),
                         str(tmp_path / "q0.tfc"))
    assert_clean_failure(cli.run("compress", "-m", "klt", "--width", "96", str(photo), str(tmp_path / "w.tfc")),
                         str(tmp_path / "w.tfc"))


def test_cli_quality_rung_picks_from_the_sweep(cli, tmp_path):
    photo = tmp_path / "photo.png"
    Image.fromarray(SAMPLE).save(photo)
    result = cli.run("compress", "-m", "klt", "-q", "2", str(photo), check=True)
    assert f"klt-q{klt.SWEEP[1]}" in result.stdout


def test_train_verb_learns_a_basis_and_refuses_kodak(cli, image_folder, tmp_path):
    out = tmp_path / "klt.npz"
    cli.run("train", "-a", "klt", "--train-data", image_folder, "--blocks-per-image", "50", str(out), check=True)
    basis = klt.load_basis(str(out))
    b = basis["basis"].astype(np.float64)
    np.testing.assert_allclose(b @ b.T, np.eye(len(b)), atol=1e-5)
    assert basis["metadata"]["blocks"] == 8 * 50 and basis["metadata"]["command"] == "tfcomp train -a klt"
    # The same source renamed as the test set is refused before anything is written.
    kodak = tmp_path / "kodak"
    kodak.mkdir()
    for name in os.listdir(image_folder):
        shutil.copy(os.path.join(image_folder, name), kodak)
    refused = tmp_path / "refused.npz"
    result = cli.run("train", "-a", "klt", "--train-data", str(kodak), str(refused))
    assert_clean_failure(result, str(refused))
    assert "Kodak" in result.stderr
    # A glob whose pattern does not name Kodak but reaches into it is refused too.
    from tfcomp.training.train import image_files_off_kodak

    with pytest.raises(TfcompError, match="Kodak"):
        image_files_off_kodak(str(tmp_path / "*" / "*.png"))
