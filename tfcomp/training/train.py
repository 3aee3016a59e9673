"""Resumable Keras training of any registered model, under a tf.distribute strategy."""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
import time

import tensorflow as tf

from tfcomp import registry
from tfcomp.data import pipeline
from tfcomp.errors import TfcompError
from tfcomp.training import hyperprior_fit
from tfcomp.training.saving import read_metadata, save_model
from tfcomp.training.warm_start import check_source, copy_weights, donor_model, lineage, stage_summary

STRATEGIES = ("default", "mirrored", "multi-worker")


@dataclasses.dataclass
class TrainConfig:
    """Everything a training run needs; recorded verbatim in the model's metadata."""

    architecture: str
    model_args: dict
    train_data: str
    output: str
    workdir: str
    val_data: str | None = None
    patch: int = 128
    batch: int = 8
    steps: int = 10000
    steps_per_epoch: int = 500
    learning_rate: float = 5e-4
    final_learning_rate: float = 5e-5
    downsample: bool = True
    downscale: float = 0.5  # the factor images shrink by before cropping, when downsample is set
    strategy: str = "default"
    logical_cpus: int = 0
    init_from: str | None = None
    freeze: tuple[str, ...] = ()
    validation_steps: int = 4
    lambda_schedule_steps: int = 0
    fit_hyperprior: bool = False
    seed: int = 0
    family: str | None = None  # the ladder the model joins; None: the model's own (architecture[-decoder])
    verbose: int | None = None


def make_strategy(name: str, logical_cpus: int = 0) -> tf.distribute.Strategy:
    """The tf.distribute strategy named on the command line (multi-worker reads TF_CONFIG)."""
    if logical_cpus > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(logical_cpus)])
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        devices = [d.name for d in tf.config.list_logical_devices("GPU")] or \
                  [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices)
    if name == "multi-worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"unknown strategy {name!r}; choose from {STRATEGIES}")


def training_images(source: str) -> tuple[tf.data.Dataset, str]:
    """Whole images from 'tfds:NAME[:SPLIT]' or a folder/glob; returns (dataset, description)."""
    if source.startswith("tfds:"):
        _, name, *split = source.split(":")
        return pipeline.tfds_images(name, split[0] if split else "train"), source
    images, count = pipeline.folder_images(source)
    return images, f"{source} ({count} images)"


class WallClock(tf.keras.callbacks.Callback):
    """Adds up wall time and steps across resumed runs in workdir/progress.json."""

    def __init__(self, path: str, stage: dict | None = None):
        super().__init__()
        self.path = path
        # The stage (warm-start source, lambda, frozen parts) lets a later run that starts from this run's
        # checkpoint trace the whole lineage, and the total training cost, back through it.
        self.state = {"wall_time_s": 0.0, "steps": 0, "runs": 0, **(stage or {})}
        if os.path.exists(path):
            with open(path) as f:
                self.state.update(json.load(f))
        self.state["runs"] += 1
        self._start = time.time()
        self._base = self.state["wall_time_s"]

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        """Writes the running totals (atomically, so a kill never leaves half a file)."""
        self.state["wall_time_s"] = self._base + time.time() - self._start
        self.state["steps"] = int(self.model.optimizer.iterations.numpy())
        self.state["last_logs"] = {k: float(v) for k, v in (logs or {}).items()}
        with open(self.path + ".tmp", "w") as f:
            json.dump(self.state, f, indent=1)
        os.replace(self.path + ".tmp", self.path)


def image_files_off_kodak(source: str) -> list[str]:
    """The image files of a folder or glob to train on; raises when any lies in Kodak, the evaluation set
    (the other systems' trainers share this)."""
    files = pipeline.list_images(source)
    if any("kodak" in os.path.abspath(path).lower() for path in [source, *files]):
        raise TfcompError(f"refusing to train on Kodak, the test set ({source})")
    return files


def finished_run(config: TrainConfig) -> dict | None:
    """The output model's metadata when this workdir already finished this run and saved it, else None:
    Keras empties its backup at the end of a run, so without this check a rerun would start over."""
    backup = os.path.join(config.workdir, "backup")
    if os.path.isdir(backup) and os.listdir(backup):
        return None  # interrupted: resume
    try:
        metadata = read_metadata(config.output)
    except (OSError, ValueError):
        return None
    training = metadata.get("training", {})
    if training.get("workdir") != config.workdir or training.get("target_steps") != config.steps:
        return None
    return metadata if training.get("steps", 0) >= config.steps else None


def train(config: TrainConfig) -> dict:
    """Trains (resuming from workdir if a backup is there), saves the SavedModel and its metadata; a run
    that already finished and saved its model is not trained again."""
    if config.steps <= 0 or config.steps_per_epoch <= 0 or config.steps % config.steps_per_epoch:
        raise TfcompError("--steps must be a positive multiple of --steps-per-epoch")
    done = finished_run(config)
    if done is not None:
        print(f"{config.output}: already trained ({done['training']['steps']} steps in {config.workdir}); "
              "delete the workdir to train again")
        return done
    if config.init_from is not None:
        check_source(config.init_from)  # an empty path too: a script whose donor lookup failed
    if config.lambda_schedule_steps and not hasattr(registry.model_class(config.architecture), "set_lambdas"):
        raise TfcompError(f"--lambda-schedule-steps needs one lambda per width (slimcae), not {config.architecture}")
    if config.fit_hyperprior and not hasattr(registry.model_class(config.architecture), "latent_bits"):
        raise TfcompError(f"--fit-hyperprior needs a hyperprior model (bmshj2018), not {config.architecture}")
    if config.fit_hyperprior and not config.init_from:
        raise TfcompError("--fit-hyperprior fits a hyperprior to trained transforms: give them with --init-from")
    tf.keras.utils.set_random_seed(config.seed)
    strategy = make_strategy(config.strategy, config.logical_cpus)
    images, description = training_images(config.train_data)
    val_images = training_images(config.val_data)[0] if config.val_data else None
    workdir, chief = _worker_workdir(strategy, config.workdir)
    os.makedirs(workdir, exist_ok=True)
    # Started before the model is built, so that the wall time includes caching latents (--fit-hyperprior).
    clock = WallClock(os.path.join(workdir, "progress.json"), dict(
        init_from=config.init_from, lmbda=config.model_args.get("lmbda"), freeze=list(config.freeze or [])))
    with strategy.scope():
        model = registry.model_class(config.architecture)(**config.model_args)
        warm_start = None
        if config.init_from:
            warm_start = copy_weights(donor_model(config.init_from, config.architecture, config.model_args), model)
        model.freeze(config.freeze)
        trainee, dataset, validation = _trainee(model, images, val_images, config, workdir)
        schedule = tf.keras.optimizers.schedules.CosineDecay(
            config.learning_rate, config.steps, alpha=config.final_learning_rate / config.learning_rate)
        trainee.compile(optimizer=tf.keras.optimizers.Adam(schedule))
    callbacks = [
        # Shared by all workers: Keras keeps the non-chief copies apart itself.
        tf.keras.callbacks.BackupAndRestore(os.path.join(config.workdir, "backup")),
        tf.keras.callbacks.ModelCheckpoint(os.path.join(workdir, "weights", "latest"), save_weights_only=True),
        tf.keras.callbacks.TensorBoard(os.path.join(workdir, "logs"), update_freq=100),
        tf.keras.callbacks.TerminateOnNaN(),
        clock,
    ]
    verbose = config.verbose if config.verbose is not None else (1 if sys.stdout.isatty() else 2)
    epochs = config.steps // config.steps_per_epoch
    history = trainee.fit(dataset, epochs=epochs, steps_per_epoch=config.steps_per_epoch,
                          validation_data=validation, validation_steps=config.validation_steps,
                          callbacks=callbacks, verbose=verbose)
    if any(not tf.math.is_finite(v) for v in history.history.get("loss", [0.0])):
        raise RuntimeError("training diverged (NaN loss); lower the learning rate")
    schedule = _schedule_lambdas(model, dataset, config) if config.lambda_schedule_steps else None
    record = _training_record(config, description, clock.state, strategy)
    record["warm_start"] = warm_start
    record["lambda_schedule"] = schedule
    if chief:
        return save_model(model, config.output, record)
    # Saving is collective in multi-worker training: the other workers save to scratch and discard it.
    metadata = save_model(model, os.path.join(workdir, "discarded-model"), record)
    shutil.rmtree(os.path.join(workdir, "discarded-model"), ignore_errors=True)
    return metadata


def _trainee(model, images: tf.data.Dataset, val_images: tf.data.Dataset | None, config: TrainConfig,
             workdir: str) -> tuple[tf.keras.Model, tf.data.Dataset, tf.data.Dataset | None]:
    """(the Keras model fit() trains, training batches, validation batches or None): the codec on image
    crops, or for --fit-hyperprior its hyperprior on cached latents of the frozen transforms."""
    if not config.fit_hyperprior:
        dataset = pipeline.image_dataset(images, config.patch, config.batch, config.downsample,
                                         factor=config.downscale)
        validation = None if val_images is None else pipeline.image_dataset(
            val_images, config.patch, config.batch, config.downsample, shuffle=False, factor=config.downscale)
        return model, dataset, validation
    trainee = hyperprior_fit.HyperpriorFit(model)

    def batches(source, name, shuffle):
        latents = hyperprior_fit.cached_latents(model, source, config.patch, config.downsample and config.downscale,
                                                os.path.join(workdir, f"latents-{name}.npy"))
        return hyperprior_fit.latent_batches(latents, config.batch, shuffle)

    validation = None if val_images is None else batches(val_images, "val", shuffle=False)
    return trainee, batches(images, "train", shuffle=True), validation


def _schedule_lambdas(model, dataset: tf.data.Dataset, config: TrainConfig) -> dict:
    """The SlimCAE thesis's lambda scheduling after the main stage (tfcomp.training.slimcae_schedule): each try trains
    lambda_schedule_steps steps and measures every width on four validation (else training) images, 2x
    downsampled like the crops. Not resumable: after a kill, rerun with --init-from WORKDIR/weights/latest."""
    import numpy as np
    from tqdm import tqdm

    from tfcomp.training.slimcae_schedule import estimate_widths, schedule_lambdas

    images, _ = training_images(config.val_data or config.train_data)
    if config.downsample:
        images = images.map(pipeline.downsample2x)
    sample = [np.asarray(tf.saturate_cast(tf.round(image), tf.uint8)) for image in images.take(4)]
    progress = tqdm(desc="lambda schedule", unit="try")
    start_lambdas = model.lambdas
    # One iterator and fit's own compiled step for all tries: a fit() per try would refill the pipeline's
    # shuffle buffer every time.
    batches = iter(model.distribute_strategy.experimental_distribute_dataset(dataset))
    step = model.make_train_function()

    def train_with(lambdas: list[float]) -> None:
        model.set_lambdas(lambdas)
        for _ in range(config.lambda_schedule_steps):
            step(batches)
        progress.update()

    lambdas, tries = schedule_lambdas(start_lambdas, train_with, lambda: estimate_widths(model, sample))
    progress.close()
    return {"steps_per_try": config.lambda_schedule_steps, "images": len(sample), "initial_lambdas": start_lambdas,
            "final_lambdas": lambdas, "tries": [dataclasses.asdict(t) for t in tries],
            "steps": len(tries) * config.lambda_schedule_steps}


def _worker_workdir(strategy: tf.distribute.Strategy, workdir: str) -> tuple[str, bool]:
    """(private work dir, is chief): multi-worker replicas other than the chief write under workdir/."""
    resolver = getattr(strategy, "cluster_resolver", None)
    task_type = getattr(resolver, "task_type", None)
    if task_type in (None, "chief"):
        return workdir, True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    if task_type == "worker" and resolver.task_id == 0 and not has_chief:
        return workdir, True
    return os.path.join(workdir, f"{task_type}-{resolver.task_id}"), False


def _training_record(config: TrainConfig, description: str, progress: dict, strategy) -> dict:
    """What metadata.json says about how a model was trained."""
    record = dict(dataclasses.asdict(config), data=description, target_steps=config.steps,
                  steps=progress["steps"], wall_time_s=round(progress["wall_time_s"], 1),
                  runs=progress["runs"], final_logs=progress.get("last_logs"),
                  device=_device_description(), replicas=strategy.num_replicas_in_sync)
    earlier = [s for s in lineage(config.init_from) if s["workdir"] != config.workdir]
    record["history"] = earlier + [stage_summary(record)]
    return record


def export_checkpoint(config: TrainConfig) -> dict:
    """Saves the latest checkpoint of a (possibly still running) run as a SavedModel with metadata."""
    weights = os.path.join(config.workdir, "weights", "latest")
    progress_path = os.path.join(config.workdir, "progress.json")
    if not os.path.exists(weights + ".index") or not os.path.exists(progress_path):
        raise TfcompError(f"no checkpoint in {config.workdir}")
    with open(progress_path) as f:
        progress = json.load(f)
    model = registry.model_class(config.architecture)(**config.model_args)
    model.load_weights(weights).expect_partial()
    _, description = training_images(config.train_data)
    record = _training_record(config, description, progress, tf.distribute.get_strategy())
    record["exported_from_checkpoint"] = True
    return save_model(model, config.output, record)


def _device_description() -> str:
    gpus = tf.config.list_physical_devices("GPU")
    return f"{len(gpus)} GPU(s)" if gpus else f"CPU ({os.cpu_count()} cores)"
