"""`tfcomp train -a sdae`: trains the stacked denoising autoencoder (SDAE) on BSDS500 crops, fits our coding's
priors, writes the model file.

    nice tfcomp train -a sdae --steps 2500 --steps-per-epoch 250   # the shipped model (default output, runs/sdae)
    tfcomp train -a sdae --steps 100 --steps-per-epoch 50 --workdir /tmp/w /tmp/sdae.npz

Stage 1, the autoencoder (resumable: rerun the same command after a kill): Adam 1e-4, batch 16, random
128x128 crops of the 2x-downsampled training images (tfcomp.data.pipeline, which also flips them) with
brightness scaled by U(0.5, 1.2), Gaussian noise sigma 0.15 on the inputs (SDAE.train_step). Validation
reconstructs clean BSDS500 validation crops. WORKDIR holds the Keras backup, the latest weights, the
TensorBoard logs (`tensorboard --logdir WORKDIR/logs`) and progress.json (steps and wall time of all runs).

Stage 2, our coding's priors (a few minutes, redone on every run): the encoder is frozen; the latents of
fixed crops of the same images (no brightness change, no noise) are cached, and the densities of every
quantization step are fitted to them (LatentPriors.train_step). Then the model, its range-coding tables
and a record of both stages go to OUTPUT (default: the file the `sdae` codec ships with).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
import tensorflow as tf

from tfcomp.codecs.sdae import MODEL_PATH
from tfcomp.data import pipeline
from tfcomp.data.locations import REPO, dataset_dir
from tfcomp.errors import TfcompError
from tfcomp.models import sdae
from tfcomp.training.train import WallClock, image_files_off_kodak

BRIGHTNESS = (0.5, 1.2)
# Values of `tfcomp train`'s shared options when not given (the SDAE project: batch 16, Adam 1e-4).
DEFAULTS = dict(train_data=dataset_dir("TFCOMP_BSDS500", "bsds500", "train"),
                val_data=dataset_dir("TFCOMP_BSDS500", "bsds500", "val"), steps=20000, steps_per_epoch=500,
                batch=16, lr=1e-4, seed=0, workdir=os.path.join(REPO, "runs", "sdae"), output=MODEL_PATH)
# The options this trainer reads, recorded in the model file.
OPTIONS = ("train_data", "val_data", "steps", "steps_per_epoch", "validation_steps", "batch", "lr",
           "prior_crops", "prior_steps", "prior_batch", "prior_lr", "seed", "workdir", "output")


def crops(pattern: str, batch: int, brightness: bool, shuffle: bool = True) -> tf.data.Dataset:
    """Endless batches of 128x128 crops in [0, 1] of 2x-downsampled images, flipped at random, with
    brightness scaled per crop when asked (the project's augmentation)."""
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
    if args.val_data:
        validation = crops(args.val_data, args.batch, brightness=False, shuffle=False)
    callbacks = [
        tf.keras.callbacks.BackupAndRestore(backup),
        tf.keras.callbacks.ModelCheckpoint(weights, save_weights_only=True),
        tf.keras.callbacks.TensorBoard(os.path.join(args.workdir, "logs"), update_freq=50),
        tf.keras.callbacks.TerminateOnNaN(),
        clock,
    ]
    history = model.fit(crops(args.train_data, args.batch, brightness=True), epochs=args.steps // args.steps_per_epoch,
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
    latents = cached_latents(model, args.train_data, args.prior_crops)
    record = model.priors.fit_latents(latents, args.prior_steps, args.prior_batch, args.prior_lr,
                                      verbose=1 if sys.stdout.isatty() else 2)
    return dict(record, wall_time_s=round(time.time() - start, 1))


def run(args: argparse.Namespace) -> int:
    """Runs both stages and writes the model file (args: OPTIONS)."""
    if args.steps <= 0 or args.steps % args.steps_per_epoch:
        raise TfcompError("--steps must be a positive multiple of --steps-per-epoch")
    images = image_files_off_kodak(args.train_data)
    tf.keras.utils.set_random_seed(args.seed)
    os.makedirs(args.workdir, exist_ok=True)
    model = sdae.SDAE()
    progress = train_autoencoder(model, args)
    priors = fit_priors(model, args)
    gpus = tf.config.list_physical_devices("GPU")
    training = dict(
        command="tfcomp train -a sdae", args={k: getattr(args, k) for k in OPTIONS},
        data=os.path.relpath(os.path.abspath(args.train_data), os.path.dirname(REPO)),
        images=len(images), downsample="2x area (tfcomp.data.pipeline.downsample2x)",
        augmentation=f"random 128x128 crop, horizontal flip, brightness x U{BRIGHTNESS}",
        noise_sigma=model.noise_sigma, steps=progress["steps"], target_steps=args.steps,
        wall_time_s=round(progress["wall_time_s"], 1), runs=progress["runs"], final_logs=progress.get("last_logs"),
        device=f"{len(gpus)} GPU(s)" if gpus else f"CPU ({os.cpu_count()} cores)")
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    metadata = sdae.save(model, args.output, dict(training=training, priors=priors))
    print(json.dumps({k: metadata[k] for k in ("training", "priors", "parameters")}, indent=2))
    print(f"wrote {args.output} ({os.path.getsize(args.output)} bytes)")
    return 0
