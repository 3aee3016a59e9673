"""Training: metadata, reload determinism, resuming a killed run, the mirrored strategy."""
import json
import os
import subprocess
import sys

import pytest

from conftest import REPO, TINY, kill_training_after, run_tfcomp

# Tests that run `tfcomp train` (or a training script) are slow; those that need the tiny zoo are marked so by
# conftest. Errors found before training starts run in the session's CLI process.
slow = pytest.mark.slow


def test_metadata_records_the_run(tiny_zoo):
    with open(os.path.join(tiny_zoo, TINY, "metadata.json")) as f:
        meta = json.load(f)
    assert meta["architecture"] == "bls2017" and meta["config"]["num_filters"] == 8
    assert meta["training"]["steps"] == 20 and meta["training"]["wall_time_s"] > 0
    assert "8 images" in meta["training"]["data"]
    assert len(meta["entropy_table_sha256"]) == 64 and len(meta["savedmodel_sha256"]) == 64
    assert meta["latent_strides"] == [16]


def test_reloaded_model_compresses_byte_identically(zoo_env, tmp_path, image_folder):
    source = os.path.join(image_folder, "img0.png")
    for name in ("a.tfc", "b.tfc"):  # two fresh processes, each loading the SavedModel
        run_tfcomp("compress", source, str(tmp_path / name), env=zoo_env, check=True)
    assert (tmp_path / "a.tfc").read_bytes() == (tmp_path / "b.tfc").read_bytes()


def train_args(image_folder, work, out, steps, *extra):
    return ["train", "-N", "8", "--train-data", image_folder, "--no-downsample", "--patch", "64",
            "--batch", "2", "--steps", str(steps), "--steps-per-epoch", "5", "--workdir", str(work), str(out), *extra]


@slow
def test_killed_run_resumes_where_it_stopped(image_folder, tmp_path):
    work, out = tmp_path / "work", tmp_path / "model"
    killed_at = kill_training_after(train_args(image_folder, work, out, 100), work, 10, timeout=240)
    assert 10 <= killed_at < 100 and not out.exists()
    # The second run finishes the remaining steps only (BackupAndRestore), not the whole schedule again.
    run_tfcomp(*train_args(image_folder, work, out, 100), check=True)
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["training"]["steps"] == 100 and meta["training"]["runs"] == 2
    # Once finished, the same command does not train the model again from scratch.
    again = run_tfcomp(*train_args(image_folder, work, out, 100), check=True)
    assert "already trained" in again.stdout and json.loads((out / "metadata.json").read_text()) == meta


@slow
def test_mirrored_strategy_on_two_logical_cpus(image_folder, tmp_path):
    run_tfcomp(*train_args(image_folder, tmp_path / "w", tmp_path / "m", 10, "--strategy", "mirrored",
                                    "--logical-cpus", "2"), check=True)
    meta = json.loads((tmp_path / "m" / "metadata.json").read_text())
    assert meta["training"]["strategy"] == "mirrored" and meta["training"]["steps"] == 10
    assert meta["training"]["replicas"] == 2


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@slow
def test_multi_worker_strategy_with_two_local_workers(image_folder, tmp_path):
    """Two worker processes on loopback (TF_CONFIG); only the chief writes the model."""
    workers = [f"localhost:{free_port()}", f"localhost:{free_port()}"]
    processes = []
    for index in range(2):
        config = json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})
        processes.append(subprocess.Popen(
            [sys.executable, "-m", "tfcomp", *train_args(image_folder, tmp_path / "w", tmp_path / "m", 10,
                                                          "--strategy", "multi-worker")],
            cwd=REPO, env={**os.environ, "TF_CONFIG": config}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
    for process in processes:
        _, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr.decode()[-2000:]
    meta = json.loads((tmp_path / "m" / "metadata.json").read_text())
    assert meta["training"]["replicas"] == 2 and meta["training"]["steps"] == 10
    assert not (tmp_path / "w" / "worker-1" / "discarded-model").exists()


def test_steps_must_fill_whole_epochs(cli, image_folder, tmp_path):
    result = cli.run(*train_args(image_folder, tmp_path / "w", tmp_path / "m", 7))
    assert result.returncode == 2 and "multiple of --steps-per-epoch" in result.stderr
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("donor", ["no", ""])
def test_missing_warm_start_checkpoint_is_a_clean_error(cli, image_folder, tmp_path, donor):
    """A missing donor, or an empty path (a script whose donor lookup failed), stops before training."""
    source = str(tmp_path / donor) if donor else ""
    result = cli.run(*train_args(image_folder, tmp_path / "w", tmp_path / "m", 5, "--init-from", source))
    assert result.returncode == 2 and "--init-from" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "w").exists()


def test_warm_start_takes_weights_but_not_the_old_schedule(tiny_runs, image_folder, tmp_path):
    """A warm-started run counts its own steps from zero (the donor's optimizer state is not restored);
    --family puts the model on a ladder of its own. The donor is the checkpoint of the tiny zoo's first run
    (20 steps, with its optimizer state)."""
    donor = os.path.join(tiny_runs, f"work-{TINY}", "weights", "latest")
    run_tfcomp(*train_args(image_folder, tmp_path / "b", tmp_path / "mb", 5, "--family", "bls2017-study",
                           "--init-from", donor, "--lambda", "0.1"), check=True)
    meta = json.loads((tmp_path / "mb" / "metadata.json").read_text())
    assert meta["training"]["steps"] == 5 and meta["config"]["lmbda"] == 0.1
    assert meta["family"] == "bls2017-study" and json.loads(
        open(os.path.join(tiny_runs, "zoo", TINY, "metadata.json")).read())["family"] == "bls2017"


def _codec_strings(model_dir: str, image) -> tuple:
    from tfcomp.codecs import container
    from tfcomp.codecs.learned import LearnedCodec

    return container.unpack(LearnedCodec(model_dir).encode(image)).strings


def test_lighter_decoder_keeps_the_frozen_encoder_and_bitstream(tiny_zoo, image_folder, tmp_path):
    """A decoder variant warm-started from a shipped model with encoder and prior frozen codes the same bits."""
    from conftest import smooth_image

    donor = os.path.join(tiny_zoo, TINY)
    run_tfcomp(*train_args(image_folder, tmp_path / "w", tmp_path / "v", 10, "--decoder", "2L-K3x3",
                           "--init-from", donor, "--freeze", "analysis_transform,prior", "--lambda", "0.01"), check=True)
    meta = json.loads((tmp_path / "v" / "metadata.json").read_text())
    donor_meta = json.loads(open(os.path.join(donor, "metadata.json")).read())
    assert meta["family"] == "bls2017-2L-K3x3" and meta["entropy_table_sha256"] == donor_meta["entropy_table_sha256"]
    warm = meta["training"]["warm_start"]
    assert warm["analysis_transform"].startswith("12/12") and warm["prior"].startswith("8/8")
    # The 3x3 layer starts from the centre of the donor's 5x5 kernel; the 9x9/8 output layer starts fresh.
    assert warm["synthesis_transform"].endswith("1 kernels resized") and not warm["synthesis_transform"].startswith("8/8")
    image = smooth_image(80, 112, seed=3)
    assert _codec_strings(str(tmp_path / "v"), image) == _codec_strings(donor, image)
    assert [s["steps"] for s in meta["training"]["history"]] == [20, 10]


def test_hyperprior_warm_starts_from_a_factorized_model(tiny_zoo, image_folder, tmp_path):
    run_tfcomp(*train_args(image_folder, tmp_path / "w", tmp_path / "h", 5, "-a", "bmshj2018", "--transforms",
                           "bls2017", "--init-from", os.path.join(tiny_zoo, TINY)), check=True)
    meta = json.loads((tmp_path / "h" / "metadata.json").read_text())
    warm = meta["training"]["warm_start"]
    assert warm["analysis_transform"].startswith("12/12") and warm["synthesis_transform"].startswith("13/13")
    assert warm["hyperprior"].startswith("0/") and meta["config"]["transforms"] == "bls2017"
    assert meta["latent_strides"] == [16, 64]


def test_freezing_an_unknown_part_is_a_clean_error(cli, image_folder, tmp_path):
    result = cli.run(*train_args(image_folder, tmp_path / "w", tmp_path / "m", 5, "--freeze", "encoder"))
    assert result.returncode == 2 and "cannot freeze encoder" in result.stderr
    assert not (tmp_path / "m").exists()


def test_hyperprior_fit_keeps_the_transforms_and_trains_the_hyperprior_on_cached_latents(tiny_zoo, image_folder,
                                                                                          tmp_path):
    from tfcomp.training.saving import load_keras_model

    donor = os.path.join(tiny_zoo, TINY)
    hyper = ["-a", "bmshj2018", "--transforms", "bls2017"]
    run_tfcomp(*train_args(image_folder, tmp_path / "w", tmp_path / "h", 10, *hyper, "--fit-hyperprior",
                           "--init-from", donor), check=True)
    meta = json.loads((tmp_path / "h" / "metadata.json").read_text())
    assert meta["training"]["fit_hyperprior"] and meta["training"]["steps"] == 10
    fitted, factorized = load_keras_model(str(tmp_path / "h")), load_keras_model(donor)
    for part in ("analysis_transform", "synthesis_transform"):
        for a, b in zip(getattr(fitted, part).variables, getattr(factorized, part).variables):
            assert (a.numpy() == b.numpy()).all(), a.name
    # 8 images x 4 crops of 64x64 -> 4x4 latents of 8 channels, cached for a resumed run.
    import numpy as np
    assert np.load(tmp_path / "w" / "latents-train.npy").shape == (32, 4, 4, 8)
    # The run's checkpoint holds the codec's weights: it warm-starts a further stage like any run's.
    run_tfcomp(*train_args(image_folder, tmp_path / "w2", tmp_path / "h2", 5, *hyper, "--init-from",
                           str(tmp_path / "w" / "weights" / "latest")), check=True)
    warm = json.loads((tmp_path / "h2" / "metadata.json").read_text())["training"]["warm_start"]
    assert warm["hyperprior"].startswith("8/8") and warm["hyper_synthesis_transform"].startswith("6/6")


def test_hyperprior_fit_needs_trained_transforms_and_a_hyperprior(cli, tiny_zoo, image_folder, tmp_path):
    result = cli.run(*train_args(image_folder, tmp_path / "w", tmp_path / "m", 5, "-a", "bmshj2018",
                                    "--fit-hyperprior"))
    assert result.returncode == 2 and "--init-from" in result.stderr and not (tmp_path / "m").exists()
    result = cli.run(*train_args(image_folder, tmp_path / "w2", tmp_path / "m2", 5, "--fit-hyperprior",
                                    "--init-from", os.path.join(tiny_zoo, TINY)))
    assert result.returncode == 2 and "needs a hyperprior model" in result.stderr
    assert not (tmp_path / "m2").exists() and not (tmp_path / "w2").exists()


def test_a_wider_model_warm_starts_from_a_narrower_one_and_decodes_the_same_image():
    import numpy as np
    import tensorflow as tf

    from tfcomp.models.bls2017 import BLS2017
    from tfcomp.training.warm_start import copy_weights

    tf.keras.utils.set_random_seed(0)  # fixed weights: the rounding margin below is the same on every run
    donor, wider = BLS2017(lmbda=0.01, num_filters=8), BLS2017(lmbda=0.01, num_filters=12)
    report = copy_weights(donor, wider)
    assert all("widened" in line for line in report.values())
    x = tf.constant(np.random.default_rng(0).uniform(0, 255, (1, 64, 64, 3)).astype("float32"))
    y_donor, y_wider = donor.analysis_transform(x), wider.analysis_transform(x)
    # The same function, not the same arithmetic: 12-channel convolutions and GDNs add their (zero) extra terms
    # in an order that oneDNN picks by shape and processor, so the old channels may differ in the last bits
    # (4.9e-7 seen on latents of magnitude ~1). 1e-5 covers float32 rounding through the four layers and is
    # 1e5 times smaller than the quantization step.
    np.testing.assert_allclose(y_wider[..., :8], y_donor, rtol=0, atol=1e-5)
    assert not np.any(y_wider[..., 8:])  # the new latent channels start switched off (zero kernels: exact zeros)...
    hidden = wider.analysis_transform.layers[1](x / 255)
    assert float(tf.reduce_mean(tf.abs(hidden[..., 8:]))) > 0  # ...but the new hidden channels are live
    # What the range coder sees, the rounded latents, is the same integers (seed 0's latents lie 8e-3 or more
    # from a rounding boundary, far beyond the float noise above).
    y_hat = tf.round(y_wider)
    np.testing.assert_array_equal(y_hat[..., :8], tf.round(y_donor))
    # The same integers decode to the donor's image, up to float32 rounding of the two synthesis graphs:
    # pixels in 0..255, 1e-3 of a grey level (several hundred float32 ulps), so both round to the same uint8.
    np.testing.assert_allclose(wider.synthesis_transform(y_hat), donor.synthesis_transform(tf.round(y_donor)),
                               rtol=0, atol=1e-3)
    # Their prior is narrowed into the zero bin: the zeros cost next to nothing, far less than under the
    # donor's cheapest channel as it was.
    (_, bpp_donor, _), (_, bpp_wider, _) = donor(x, training=False), wider(x, training=False)
    new_channels = float(bpp_wider - bpp_donor) / (4 / 16 ** 2)  # bits per new latent (4 per 16x16 block)
    cheapest = -np.log2(float(tf.reduce_max(donor.prior.prob(tf.zeros((8,))))))
    # Bits are never negative, but this is the difference of two float32 sums of ~690 bits in different
    # orders: one ulp of the sum (6e-5 bits) is 1e-6 bits per new latent, hence the -1e-5 floor.
    assert -1e-5 <= new_channels < 1e-3 < cheapest
    # The old channels keep the donor's prior. Probabilities of ~0.025 are computed from CDF values near 0.5,
    # where one float32 ulp (6e-8) is 2.4e-6 of the result, in batches of 12 and 8 channels that vectorize
    # differently: 1e-5 relative.
    np.testing.assert_allclose(wider.prior.prob(tf.zeros((12,)))[:8], donor.prior.prob(tf.zeros((8,))),
                               rtol=1e-5, atol=0)


def test_lineage_through_a_checkpoint_reaches_back_to_its_runs_own_donor(tmp_path):
    from tfcomp.training.warm_start import lineage

    shipped = tmp_path / "shipped"
    shipped.mkdir()
    first = {"workdir": "runs/a", "steps": 10, "wall_time_s": 5.0, "lmbda": 0.1, "init_from": None, "freeze": []}
    (shipped / "metadata.json").write_text(json.dumps({"training": {"history": [first]}}))
    run = tmp_path / "run"
    (run / "weights").mkdir(parents=True)
    (run / "progress.json").write_text(json.dumps(
        {"steps": 2000, "wall_time_s": 690.0, "runs": 1, "init_from": str(shipped), "lmbda": 0.3, "freeze": []}))
    stages = lineage(str(run / "weights" / "latest"))
    assert [s["steps"] for s in stages] == [10, 2000]
    assert stages[1]["init_from"] == str(shipped) and stages[1]["lmbda"] == 0.3


def test_a_narrower_variable_of_another_decoder_is_not_widened_into_place():
    from tfcomp.models.bls2017 import BLS2017
    from tfcomp.training.warm_start import copy_weights

    report = copy_weights(BLS2017(lmbda=0.01, num_filters=8, decoder="2L"), BLS2017(lmbda=0.01, num_filters=8))
    assert not any("widened" in line for line in report.values())


@slow
def test_train_step_benchmark_writes_its_table(image_folder, tmp_path):
    result = subprocess.run([sys.executable, "-m", "tfcomp.training.bench_step", "--filters", "8", "--patch", "32",
                             "--batch", "2", "--steps", "2", "--warmup", "1", "--train-data", image_folder,
                             "--out", str(tmp_path)], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr
    with open(tmp_path / "bench_train_step.json") as f:
        row, = json.load(f)["rows"]
    assert row["num_filters"] == 8 and row["plain_s"] > 0 and row["xla_s"] > 0
    assert "\n| N | s/step |" in (tmp_path / "bench_train_step.md").read_text()
