"""`tfcomp train -a resae` / `-a resae-denoiser`: trains the residual autoencoder (resae) on an image set of
256x256 BSDS500 crops, then its denoiser.

    nice tfcomp train -a resae --config small --epochs 150
    nice tfcomp train -a resae --config base --epochs 30
    nice tfcomp train -a resae-denoiser --configs small,base --epochs 20

`resae` (resumable: rerun the same command after a kill; rerun with a larger --epochs, the cap, to go on):
the image set is `image_set_size` 256x256 crops of the BSDS500 training JPEGs, each halved by area
averaging first (tfcomp.data.pipeline.downsample2x, so JPEG blocking is not learned). Halved BSDS500
images are 240x160, smaller than 256, so, as tfcomp.data.pipeline.augment does, they are enlarged
(bilinear) until the short side is 256 before a crop at a random offset: crops show 0.8x of the original
scale. Crop i comes from source image perm[i % 200] (a fixed permutation), so sets larger than 200 reuse
images at other offsets. The set is fixed by (images, size, count, seed), recorded in the model file, so
the evaluation and the denoiser rebuild the same set. Training: MSE, Adam (default 1e-3), batch 16,
the set shuffled each epoch, until the residual-autoencoder essay's convergence rule stops it (models/resae.py:
ConvergenceRule) or --epochs does. WORKDIR holds the Keras backup, the latest weights, TensorBoard
logs, progress.json (steps, wall time of all runs) and convergence.json (the rule's loss history and
checks). Then the int8 decoder is converted (calibrated on the set's latents) and the configuration's
model file is written.

`resae-denoiser`: (float decoder reconstruction, original) pairs of every image of the named configurations'
sets, split 80/10/10 by BSDS500 source image (so crops of one photo never straddle the split), trained
on random --crop crops of the train split, validated on the val split each epoch; the test split's
whole tiles are measured before and after, and the split is recorded for tfcomp/evaluation/resae_eval.py.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time

import numpy as np
import tensorflow as tf

from tfcomp.codecs import resae as resae_codec
from tfcomp.data import pipeline
from tfcomp.data.locations import REPO, dataset_dir
from tfcomp.evaluation import metrics
from tfcomp.codecs import resae_files
from tfcomp.models import resae, resae_denoiser
from tfcomp.training.resae_convergence import ConvergenceRule
from tfcomp.training.train import WallClock, image_files_off_kodak

SPLIT = (0.8, 0.1, 0.1)
# Values of `tfcomp train`'s shared options when not given (output None: the codec's default file).
AUTOENCODER_DEFAULTS = dict(train_data=dataset_dir("TFCOMP_BSDS500", "bsds500", "train"), epochs=2000,
                            batch=16, lr=1e-3, seed=0)
DENOISER_DEFAULTS = dict(epochs=20, steps_per_epoch=50, batch=8, lr=1e-3, seed=0)
# The options each trainer reads, recorded in the model file.
AUTOENCODER_OPTIONS = ("config", "train_data", "epochs", "batch", "lr", "period", "min_epochs", "image_size",
                       "set_size", "no_int8", "seed", "workdir", "output")
DENOISER_OPTIONS = ("configs", "model_dir", "epochs", "steps_per_epoch", "crop", "batch", "lr", "seed",
                    "workdir", "output")


def crop_set(pattern: str, count: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 crops (count, size, size, 3), source image index of each crop): module docstring."""
    files = pipeline.list_images(pattern)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(files))
    sources, crops = [], []
    cache: dict[int, tf.Tensor] = {}
    for i in range(count):
        index = int(order[i % len(files)])
        if index not in cache:
            image = pipeline.downsample2x(pipeline._decode(tf.constant(files[index])))
            shape = np.array(image.shape[:2], np.float64)
            scale = max(1.0, size / shape.min())
            if scale > 1.0:  # as pipeline.augment: enlarge images smaller than the crop
                image = tf.image.resize(image, np.ceil(shape * scale).astype(np.int32))
            cache[index] = tf.saturate_cast(tf.round(image), tf.uint8).numpy()
        image = cache[index]
        top = int(rng.integers(0, image.shape[0] - size + 1))
        left = int(rng.integers(0, image.shape[1] - size + 1))
        crops.append(image[top:top + size, left:left + size])
        sources.append(index)
    return np.stack(crops), np.array(sources)


def set_of(metadata: dict) -> tuple[np.ndarray, np.ndarray]:
    """The image set a model file was trained on, rebuilt from its record."""
    s = metadata["training"]["image_set"]
    return crop_set(os.path.join(os.path.dirname(REPO), s["images"]), s["count"], s["size"], s["seed"])


def split_by_source(sources: np.ndarray, seed: int) -> np.ndarray:
    """0/1/2 (train/val/test) per crop, 80/10/10 of the distinct source images."""
    unique = np.random.default_rng(seed).permutation(np.unique(sources))
    n_train = int(round(SPLIT[0] * len(unique)))
    n_val = max(1, int(round(SPLIT[1] * len(unique)))) if len(unique) >= 3 else 0
    group = {int(s): (0 if k < n_train else 1 if k < n_train + n_val else 2) for k, s in enumerate(unique)}
    return np.array([group[int(s)] for s in sources])


class SaveState(tf.keras.callbacks.Callback):
    """Writes the convergence rule's state to a JSON file after every epoch (atomically)."""

    def __init__(self, path: str, state: dict):
        super().__init__()
        self.path, self.state = path, state

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        """Saves the state."""
        with open(self.path + ".tmp", "w") as f:
            json.dump(self.state, f)
        os.replace(self.path + ".tmp", self.path)


def train_autoencoder(args: argparse.Namespace) -> int:
    """Trains one configuration until the convergence rule or the --epochs cap stops it (args:
    AUTOENCODER_OPTIONS) and writes its model file."""
    image_files_off_kodak(args.train_data)  # refuses Kodak before any work
    base = resae.CONFIGS[args.config]
    config = dataclasses.replace(base, image_size=args.image_size or base.image_size,
                                 image_set_size=args.set_size or base.image_set_size)
    workdir = args.workdir or os.path.join(REPO, "runs", "resae", args.config)
    out = args.output or os.path.join(resae_codec.DEFAULT_DIR, f"resae_{args.config}.npz")
    os.makedirs(workdir, exist_ok=True)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    tf.keras.utils.set_random_seed(args.seed)
    start = time.time()
    images, sources = crop_set(args.train_data, config.image_set_size, config.image_size, args.seed)
    print(f"image set: {len(images)} crops of {len(set(sources.tolist()))} images ({time.time() - start:.0f} s)")
    x = images.astype(np.float32) / 255.0

    model = resae.ResAE(config)
    model.compile(optimizer=tf.keras.optimizers.Adam(args.lr))
    weights = os.path.join(workdir, "weights", "latest")
    backup = os.path.join(workdir, "backup")
    state_path = os.path.join(workdir, "convergence.json")
    state = {}
    if os.path.exists(state_path):
        with open(state_path) as f:
            state = json.load(f)
    interrupted = os.path.isdir(backup) and os.listdir(backup)
    initial_epoch = 0
    if not interrupted and state.get("losses"):
        # A finished run (Keras empties its backup at the end): go on from its weights, Adam restarts.
        model.load_weights(weights).expect_partial()
        initial_epoch = len(state["losses"])
        print(f"continuing a finished run from epoch {initial_epoch} ({weights})")

    def set_ssim() -> float:
        return resae.mean_ssim(images, resae.reconstruct(model.encoder, model.decoder, images))

    rule = ConvergenceRule(set_ssim, period=args.period, min_epochs=args.min_epochs, state=state)
    clock = WallClock(os.path.join(workdir, "progress.json"))
    dataset = tf.data.Dataset.from_tensor_slices(x).shuffle(len(x), seed=args.seed).batch(args.batch)
    if state.get("converged") or initial_epoch >= args.epochs:
        print("already converged or at the --epochs cap: no training")
    else:
        callbacks = [tf.keras.callbacks.BackupAndRestore(backup),
                     tf.keras.callbacks.ModelCheckpoint(weights, save_weights_only=True),
                     tf.keras.callbacks.TensorBoard(os.path.join(workdir, "logs")),
                     tf.keras.callbacks.TerminateOnNaN(), rule, SaveState(state_path, state), clock]
        model.fit(dataset, epochs=args.epochs, initial_epoch=initial_epoch, callbacks=callbacks,
                  verbose=1 if sys.stdout.isatty() else 2)
    epochs = len(state["losses"])
    if not np.all(np.isfinite(state["losses"])):
        raise RuntimeError("training diverged (NaN loss)")
    reconstructions = resae.reconstruct(model.encoder, model.decoder, images)
    latents = np.concatenate([model.encoder(x[i:i + 16], training=False).numpy() for i in range(0, len(x), 16)])
    int8 = None
    if not args.no_int8:
        t = time.time()
        int8 = resae_files.convert_int8(model.decoder, config, latents)
        print(f"int8 decoder: {len(int8)} bytes ({time.time() - t:.0f} s)")
    progress = clock.state
    gpus = tf.config.list_physical_devices("GPU")
    training = dict(
        command="tfcomp train -a resae", args={k: getattr(args, k) for k in AUTOENCODER_OPTIONS},
        image_set=dict(images=os.path.relpath(os.path.abspath(args.train_data), os.path.dirname(REPO)),
                       count=config.image_set_size, size=config.image_size, seed=args.seed,
                       distinct_sources=len(set(sources.tolist())),
                       preparation="2x area downsampling (pipeline.downsample2x), enlarged to a short side of "
                                   f"{config.image_size} (bilinear) as pipeline.augment, one random crop each"),
        loss="MSE on [0, 1]", optimizer=f"Adam {args.lr}", batch=args.batch, epochs=epochs,
        max_epochs=args.epochs, converged=bool(state.get("converged")),
        stopped_by="convergence rule" if state.get("converged") else "--epochs cap (not converged)",
        rule=dict(period=args.period, slope_tol=1e-6, ssim_tol=1e-3, min_epochs=args.min_epochs,
                  checks=state.get("checks", [])),
        final_loss=state["losses"][-1] if state["losses"] else None,
        set_psnr=float(np.mean([metrics.psnr(a, b) for a, b in zip(images, reconstructions)])),
        set_ssim=resae.mean_ssim(images, reconstructions),
        # Counted from epochs: a continued run restarts Adam, whose step counter progress.json records.
        steps=epochs * -(-len(images) // args.batch), wall_time_s=round(progress["wall_time_s"], 1),
        runs=progress["runs"], continued_from_epoch=initial_epoch,  # Adam restarted there (0: fresh run)
        device=f"{len(gpus)} GPU(s)" if gpus else f"CPU ({os.cpu_count()} cores, shared)")
    metadata = resae_files.save_autoencoder(out, config, model.encoder, model.decoder, int8, dict(training=training))
    np.savez(os.path.join(workdir, "image_set.npz"), images=images, sources=sources)
    print(json.dumps({k: v for k, v in training.items() if k not in ("rule", "args")}, indent=1))
    print(f"wrote {out} ({os.path.getsize(out)} bytes; decoder bytes {metadata['decoder_bytes']})")
    return 0


def train_denoiser(args: argparse.Namespace) -> int:
    """Trains the shared denoiser on the named configurations' reconstructions (args: DENOISER_OPTIONS)."""
    folder = os.path.dirname(os.path.abspath(args.output)) if args.output else resae_codec.DEFAULT_DIR
    out = args.output or os.path.join(folder, resae_codec.DENOISER_FILE)
    workdir = args.workdir or os.path.join(REPO, "runs", "resae", "denoiser")
    os.makedirs(workdir, exist_ok=True)
    tf.keras.utils.set_random_seed(args.seed)
    noisy, clean, groups, record = [], [], [], {}
    for name in args.configs.split(","):
        path = os.path.join(args.model_dir or folder, f"resae_{name}.npz")
        model = resae_files.load_autoencoder(path)
        images, sources = set_of(model.metadata)
        reconstructions = resae.reconstruct(model.encoder, model.decoder, images)
        split = split_by_source(sources, args.seed)
        noisy.append(reconstructions)
        clean.append(images)
        groups.append(split)
        record[name] = dict(test_indices=np.flatnonzero(split == 2).tolist(),
                            counts=[int((split == g).sum()) for g in range(3)])
    noisy, clean, groups = np.concatenate(noisy), np.concatenate(clean), np.concatenate(groups)

    def crops(group: int, shuffle: bool) -> tf.data.Dataset:
        pairs = np.concatenate([noisy[groups == group], clean[groups == group]], -1)  # crop both alike
        data = tf.data.Dataset.from_tensor_slices(pairs)
        if shuffle:
            data = data.shuffle(len(pairs), seed=args.seed).repeat()

        def cut(p):
            p = tf.image.random_crop(p, (args.crop, args.crop, 6)) if shuffle else tf.image.crop_to_bounding_box(
                p, (tf.shape(p)[0] - args.crop) // 2, (tf.shape(p)[1] - args.crop) // 2, args.crop, args.crop)
            p = tf.cast(p, tf.float32) / 255.0
            return p[..., :3], p[..., 3:]

        return data.map(cut).batch(args.batch)

    denoiser = resae_denoiser.build_denoiser()
    trainer = resae_denoiser.DenoiserTrainer(denoiser)
    trainer.compile(optimizer=tf.keras.optimizers.Adam(args.lr))
    clock = WallClock(os.path.join(workdir, "progress.json"))
    validation = crops(1, False) if (groups == 1).any() else None
    callbacks = [tf.keras.callbacks.BackupAndRestore(os.path.join(workdir, "backup")),
                 tf.keras.callbacks.ModelCheckpoint(os.path.join(workdir, "weights", "latest"), save_weights_only=True),
                 tf.keras.callbacks.TensorBoard(os.path.join(workdir, "logs")),
                 tf.keras.callbacks.TerminateOnNaN(), clock]
    history = trainer.fit(crops(0, True), epochs=args.epochs, steps_per_epoch=args.steps_per_epoch,
                          validation_data=validation, callbacks=callbacks, verbose=1 if sys.stdout.isatty() else 2)
    test = groups == 2
    before = after = None
    if test.any():
        denoised = resae_denoiser.denoise(denoiser, noisy[test])
        before = dict(psnr=float(np.mean([metrics.psnr(a, b) for a, b in zip(clean[test], noisy[test])])),
                      ssim=resae.mean_ssim(clean[test], noisy[test]))
        after = dict(psnr=float(np.mean([metrics.psnr(a, b) for a, b in zip(clean[test], denoised)])),
                     ssim=resae.mean_ssim(clean[test], denoised))
        print(f"test split ({int(test.sum())} tiles): before {before}, after {after}")
    progress = clock.state
    metadata = resae_files.save_denoiser(out, denoiser, dict(training=dict(
        command="tfcomp train -a resae-denoiser", args={k: getattr(args, k) for k in DENOISER_OPTIONS},
        pairs="float decoder reconstruction (uint8) -> original",
        split="80/10/10 by BSDS500 source image", splits=record, crop=args.crop, batch=args.batch,
        optimizer=f"Adam {args.lr}", loss="MSE on [0, 1]", steps=progress["steps"],
        wall_time_s=round(progress["wall_time_s"], 1),
        final_logs={k: float(v[-1]) for k, v in history.history.items()} if history.history else None,
        test_before=before, test_after=after)))
    print(f"wrote {out} ({metadata['parameters']} parameters)")
    return 0
