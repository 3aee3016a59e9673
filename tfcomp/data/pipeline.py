"""tf.data training input from an image folder/glob or a TFDS dataset: random crops and flips."""
from __future__ import annotations

import tensorflow as tf

from tfcomp.data.images import list_images


def _decode(path: tf.Tensor) -> tf.Tensor:
    image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
    return tf.cast(image, tf.float32)


def downscale(image: tf.Tensor, factor: float = 0.5) -> tf.Tensor:
    """Shrink both sides by a factor (area averaging): removes JPEG blocking before cropping."""
    size = tf.cast(tf.math.round(tf.cast(tf.shape(image)[:2], tf.float32) * factor), tf.int32)
    return tf.image.resize(image, size, method="area")


def downsample2x(image: tf.Tensor) -> tf.Tensor:
    """Halve both sides by area averaging."""
    shape = tf.shape(image)
    return tf.image.resize(image, shape[:2] // 2, method="area")


def augment(image: tf.Tensor, patch: int) -> tf.Tensor:
    """Random patch x patch crop and horizontal flip; images smaller than the patch are enlarged first."""
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    scale = tf.maximum(1.0, patch / tf.reduce_min(shape))
    image = tf.cond(scale > 1.0,
                    lambda: tf.image.resize(image, tf.cast(tf.math.ceil(shape * scale), tf.int32)),
                    lambda: image)
    image = tf.image.random_crop(image, (patch, patch, 3))
    return tf.image.random_flip_left_right(image)


def image_dataset(images: tf.data.Dataset, patch: int, batch: int, downsample: bool,
                  shuffle: bool = True, factor: float = 0.5) -> tf.data.Dataset:
    """Endless batches of float32 crops in 0..255 from a dataset of whole images (shrunk by `factor` first
    when downsample is set)."""
    if downsample:
        images = images.map(downsample2x if factor == 0.5 else lambda x: downscale(x, factor),
                            num_parallel_calls=tf.data.AUTOTUNE)
    # Decoded (and downsampled) images are small enough to cache: crops are then almost free.
    images = images.cache()
    if shuffle:
        images = images.shuffle(512, reshuffle_each_iteration=True)
    images = images.repeat().map(lambda x: augment(x, patch), num_parallel_calls=tf.data.AUTOTUNE)
    return images.batch(batch, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


def folder_images(pattern: str) -> tuple[tf.data.Dataset, int]:
    """Whole images decoded from files; returns (dataset, number of files)."""
    files = list_images(pattern)
    dataset = tf.data.Dataset.from_tensor_slices(files).map(_decode, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset, len(files)


def tfds_images(name: str, split: str, data_dir: str | None = None) -> tf.data.Dataset:
    """Whole images from a TFDS dataset by name (its 'image' feature), e.g. 'clic' or 'kodak'."""
    import tensorflow_datasets as tfds

    import tfcomp.data.kodak_tfds  # noqa: F401  (registers the `kodak` builder)

    dataset = tfds.load(name, split=split, data_dir=data_dir, shuffle_files=True)
    return dataset.map(lambda item: tf.cast(item["image"], tf.float32))
