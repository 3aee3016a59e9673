"""Decoder-only fine-tuning of a plain decoder (after pruning, or for quantization-aware training).

The encoder and entropy model stay fixed, so every file keeps its bits: training pairs are the
integer symbols of BSDS500 training crops (2x downsampled, as in training) and the crops themselves,
and the loss is the MSE of the reconstruction.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from tfcomp.data.locations import dataset_dir
from tfcomp.data.pipeline import folder_images, image_dataset

TRAIN_ENV = "TFCOMP_TRAIN_DATA"


def train_dir() -> str:
    """$TFCOMP_TRAIN_DATA, else BSDS500's training images beside the repository."""
    return dataset_dir(TRAIN_ENV, "bsds500", "train")


def training_pairs(exported, crops: int = 1024, patch: int = 256, folder: str | None = None,
                   seed: int = 0) -> tf.data.Dataset:
    """(symbols, crop) pairs through the model's fixed encoder, computed once, as an unbatched dataset."""
    tf.keras.utils.set_random_seed(seed)
    images, _ = folder_images(folder or train_dir())
    batches = image_dataset(images, patch, 16, downsample=True).take(crops // 16)
    symbols, pixels = [], []
    for batch in tqdm(batches, total=crops // 16, desc="encoding training crops", unit="batch", leave=False):
        symbols.append(np.round(exported.analysis(batch).numpy() - exported.offset).astype(np.float32))
        pixels.append(batch.numpy().astype(np.uint8))
    return tf.data.Dataset.from_tensor_slices((np.concatenate(symbols), np.concatenate(pixels)))


def finetune(decoder: tf.keras.Model, pairs: tf.data.Dataset, steps: int, lr: float = 1e-4, batch: int = 8,
             callbacks: list | None = None) -> dict:
    """Trains a decoder built with a free batch dimension (plain_synthesis(batch_size=None)) on the pairs
    for `steps` steps: MSE on 0..255, cosine-decayed learning rate."""
    dataset = (pairs.shuffle(2048, seed=0).repeat()
               .map(lambda s, x: (s, tf.cast(x, tf.float32)))
               .batch(batch, drop_remainder=True).prefetch(tf.data.AUTOTUNE))
    schedule = tf.keras.optimizers.schedules.CosineDecay(lr, steps, alpha=0.1)
    decoder.compile(optimizer=tf.keras.optimizers.Adam(schedule), loss="mse")
    history = decoder.fit(dataset, steps_per_epoch=steps, epochs=1, verbose=0, callbacks=callbacks or [])
    return {"steps": steps, "lr": lr, "batch": batch, "final_mse": float(history.history["loss"][-1])}
