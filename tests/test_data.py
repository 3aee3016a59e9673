"""Training input pipeline and the Kodak TFDS builder (manual mode, no network)."""
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
from PIL import Image

from conftest import smooth_image
from tfcomp.data import pipeline


def test_folder_pipeline_crops_flips_and_downsamples(image_folder):
    images, count = pipeline.folder_images(image_folder)
    assert count == 8
    batch = next(iter(pipeline.image_dataset(images, patch=32, batch=4, downsample=True)))
    assert batch.shape == (4, 32, 32, 3) and batch.dtype == tf.float32
    assert 0 <= float(tf.reduce_min(batch)) and float(tf.reduce_max(batch)) <= 255
    small = pipeline.downsample2x(tf.ones((96, 128, 3)))
    assert small.shape == (48, 64, 3)


def test_small_images_are_padded_to_the_patch():
    crop = pipeline.augment(tf.zeros((20, 30, 3)), 64)
    assert crop.shape == (64, 64, 3)


def test_kodak_builder_in_manual_mode(tmp_path):
    import tfcomp.data.kodak_tfds  # noqa: F401

    manual = tmp_path / "manual"
    manual.mkdir()
    for i in (1, 2, 3):
        Image.fromarray(smooth_image(64, 96, seed=i)).save(manual / f"kodim{i:02d}.png")
    builder = tfds.builder("kodak", data_dir=str(tmp_path / "data"))
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(manual)))
    examples = list(tfds.as_numpy(builder.as_dataset(split="test")))
    assert sorted(e["name"].decode() for e in examples) == ["kodim01", "kodim02", "kodim03"]
    first = next(e for e in examples if e["name"] == b"kodim01")
    np.testing.assert_array_equal(first["image"], smooth_image(64, 96, seed=1))


@pytest.mark.slow
def test_training_reads_a_tfds_dataset_by_name(tmp_path):
    """`--train-data tfds:NAME:SPLIT` trains from a prepared TFDS dataset (here the kodak builder, offline)."""
    import json
    import tfcomp.data.kodak_tfds  # noqa: F401

    from conftest import run_tfcomp

    manual = tmp_path / "manual"
    manual.mkdir()
    for i in (1, 2):
        Image.fromarray(smooth_image(64, 96, seed=i)).save(manual / f"kodim{i:02d}.png")
    data_dir = tmp_path / "tfds"
    tfds.builder("kodak", data_dir=str(data_dir)).download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=str(manual)))
    run_tfcomp("train", "-N", "8", "--train-data", "tfds:kodak:test", "--no-downsample", "--patch", "32",
               "--batch", "2", "--steps", "4", "--steps-per-epoch", "2", "--workdir", str(tmp_path / "w"),
               str(tmp_path / "m"), env={"TFDS_DATA_DIR": str(data_dir)}, check=True)
    meta = json.loads((tmp_path / "m" / "metadata.json").read_text())
    assert meta["training"]["data"] == "tfds:kodak:test" and meta["training"]["steps"] == 4
