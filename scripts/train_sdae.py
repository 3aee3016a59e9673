"""Trains seed 004's SDAE on BSDS500 crops, fits our coding's priors, and writes the model file.

    nice .venv/bin/python scripts/train_sdae.py --workdir runs/sdae                  # the shipped model
    .venv/bin/python scripts/train_sdae.py --steps 100 --steps-per-epoch 50 --workdir /tmp/w --out /tmp/sdae.npz

Stage 1, the autoencoder (resumable: rerun the same command after a kill): Adam 1e-4, batch 16, random
128x128 crops of the 2x-downsampled training images (tfcomp.data.pipeline, which also flips them) with
brightness scaled by U(0.5, 1.2), Gaussian noise sigma 0.15 on the inputs (SDAE.train_step). Validation
reconstructs clean BSDS500 validation crops. WORKDIR holds the Keras backup, the latest weights, the
TensorBoard logs (`tensorboard --logdir WORKDIR/logs`) and progress.json (steps and wall time of all runs).

Stage 2, our coding's priors (a few minutes, redone on every run): the encoder is frozen; the latents of
fixed crops of the same images (no brightness change, no noise) are cached, and the densities of every
quantization step are fitted to them (LatentPriors.train_step). Then the model, its range-coding tables
and a record of both stages go to OUT (default: the file the `sdae` codec ships with).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
import tensorflow as tf

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tfcomp.codecs.sdae import MODEL_PATH  # noqa: E402
from tfcomp.data import pipeline  # noqa: E402
from tfcomp.data.locations import REPO, dataset_dir  # noqa: E402
from tfcomp.models import sdae  # noqa: E402
from tfcomp.training.train import WallClock  # noqa: E402

BRIGHTNESS = (0.5, 1.2)


def crops(pattern: str, batch: int, brightness: bool, shuffle: bool = True) -> tf.data.Dataset:
    """Endless batches of 128x128 crops in [0, 1] of 2x-downsampled images, flipped at random, with
    brightness scaled per crop when asked (the seed's augmentation)."""
    images, _ = pipeline.folder_images(pattern)
    dataset = pipeline.image_dataset(images, sdae.TILE, batch, downsample=True, shuffle=shuffle)

    def prepare(x: tf.Tensor) -> tf.Tensor:
        # Rounded to 8 bits first: the codec only ever sees uint8 images.
        x = tf.round(x) / 255.0
        if brightness:
            x *= tf.random.uniform((tf.shape(x)[0], 1, 1, 1), *BRIGHTNESS)
        return tf.clip_by_value(x, 0.0, 1.0)

    return dataset.map(prepare, num_parallel_calls=tf.data.AUTOTUNE)


def train_autoencoder(model: sdae.SDAE, args: argparse.Namespace) -> dict:
    """Stage 1: fits the transforms (resuming from WORKDIR), returns the progress totals."""
    weights = os.path.join(args.workdir, "weights", "latest")
    backup = os.path.join(args.workdir, "backup")
    progress = os.path.join(args.workdir, "progress.json")
    model.compile(optimizer=tf.keras.optimizers.Adam(args.lr))
    interrupted = os.path.isdir(backup) and os.listdir(backup)
    if os.path.exists(progress) and not interrupted:
        with open(progress) as f:
            state = json.load(f)
        if state["steps"] >= args.steps:
            # A finished run: Keras empties its backup at the end, so the weights come from the checkpoint.
            model.load_weights(weights).expect_partial()
            print(f"stage 1 already done ({state['steps']} steps): loaded {weights}")
            return state
    clock = WallClock(progress)
    validation = None
    if args.val_images:
        validation = crops(args.val_images, args.batch, brightness=False, shuffle=False)
    callbacks = [
        tf.keras.callbacks.BackupAndRestore(backup),
        tf.keras.callbacks.ModelCheckpoint(weights, save_weights_only=True),
        tf.keras.callbacks.TensorBoard(os.path.join(args.workdir, "logs"), update_freq=50),
        tf.keras.callbacks.TerminateOnNaN(),
        clock,
    ]
    history = model.fit(crops(args.images, args.batch, brightness=True), epochs=args.steps // args.steps_per_epoch,
                        steps_per_epoch=args.steps_per_epoch, validation_data=validation,
                        validation_steps=args.validation_steps, callbacks=callbacks,
                        verbose=1 if sys.stdout.isatty() else 2)
    if not np.all(np.isfinite(history.history.get("mse", [0.0]))):
        raise RuntimeError("training diverged (NaN loss)")
    return clock.state


def cached_latents(model: sdae.SDAE, pattern: str, count: int) -> np.ndarray:
    """The encoder's latents (count, 8, 8, 32) of fixed random crops, as the codec computes them."""
    batches = crops(pattern, 16, brightness=False).take(-(-count // 16))
    latents = [model.analyze(tf.saturate_cast(tf.round(x * 255.0), tf.uint8)).numpy() for x in batches]
    return np.concatenate(latents)[:count]


def fit_priors(model: sdae.SDAE, args: argparse.Namespace) -> dict:
    """Stage 2: fits every step's density to cached latents of the frozen encoder; returns its record."""
    start = time.time()
    latents = cached_latents(model, args.images, args.prior_crops)
    record = model.priors.fit_latents(latents, args.prior_steps, args.prior_batch, args.prior_lr,
                                      verbose=1 if sys.stdout.isatty() else 2)
    return dict(record, wall_time_s=round(time.time() - start, 1))


def main() -> int:
    """Parses arguments, runs both stages, writes the model file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", default=dataset_dir("TFCOMP_BSDS500", "bsds500", "train"),
                        help="training images (default: %(default)s); never Kodak")
    parser.add_argument("--val-images", default=dataset_dir("TFCOMP_BSDS500", "bsds500", "val"),
                        help="validation images, '' for none (default: %(default)s)")
    parser.add_argument("--steps", type=int, default=20000, help="autoencoder steps (default: %(default)s)")
    parser.add_argument("--steps-per-epoch", type=int, default=500, help="steps between checkpoints")
    parser.add_argument("--validation-steps", type=int, default=4)
    parser.add_argument("--batch", type=int, default=16, help="seed 004: 16")
    parser.add_argument("--lr", type=float, default=1e-4, help="seed 004: Adam 1e-4")
    parser.add_argument("--prior-crops", type=int, default=4096, help="crops whose latents fit the priors")
    parser.add_argument("--prior-steps", type=int, default=3000)
    parser.add_argument("--prior-batch", type=int, default=16)
    parser.add_argument("--prior-lr", type=float, default=1e-2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", required=True, help="checkpoints, backups, TensorBoard logs")
    parser.add_argument("--out", default=MODEL_PATH, help="model file to write (default: %(default)s)")
    args = parser.parse_args()
    if args.steps <= 0 or args.steps % args.steps_per_epoch:
        parser.error("--steps must be a positive multiple of --steps-per-epoch")
    if "kodak" in os.path.abspath(args.images).lower():
        parser.error("refusing to train on Kodak, the test set")

    tf.keras.utils.set_random_seed(args.seed)
    os.makedirs(args.workdir, exist_ok=True)
    model = sdae.SDAE()
    progress = train_autoencoder(model, args)
    priors = fit_priors(model, args)
    gpus = tf.config.list_physical_devices("GPU")
    training = dict(
        script="scripts/train_sdae.py", args=vars(args),
        data=os.path.relpath(os.path.abspath(args.images), os.path.dirname(REPO)),
        images=len(pipeline.list_images(args.images)), downsample="2x area (tfcomp.data.pipeline.downsample2x)",
        augmentation=f"random 128x128 crop, horizontal flip, brightness x U{BRIGHTNESS}",
        noise_sigma=model.noise_sigma, steps=progress["steps"], target_steps=args.steps,
        wall_time_s=round(progress["wall_time_s"], 1), runs=progress["runs"], final_logs=progress.get("last_logs"),
        device=f"{len(gpus)} GPU(s)" if gpus else f"CPU ({os.cpu_count()} cores)")
    metadata = sdae.save(model, args.out, dict(training=training, priors=priors))
    print(json.dumps({k: metadata[k] for k in ("training", "priors", "parameters")}, indent=2))
    print(f"wrote {args.out} ({os.path.getsize(args.out)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
