"""The JAX trainer's .npz layout loads into tfcomp's BLS2017 with identical outputs (no JAX needed here)."""
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from tfcomp.errors import TfcompError
from tfcomp.models.bls2017 import BLS2017
from tfcomp.training.jax_import import import_jax_model, load_jax_values, model_values
from tfcomp.training.saving import load_keras_model, read_metadata


def _random_values(decoder: str) -> dict:
    """Values of a small model with every parameter randomized (positive where tfc needs it)."""
    rng = np.random.default_rng(1)
    values = model_values(BLS2017(lmbda=0.01, num_filters=8, decoder=decoder))
    for name, value in values.items():
        noise = rng.normal(size=value.shape).astype(np.float32)
        if name.endswith(("/beta", "/gamma")):
            values[name] = np.abs(value + 0.05 * noise) + (1e-3 if name.endswith("/beta") else 0.0)
        else:
            values[name] = value + 0.1 * noise
    return values


def _outputs(model: BLS2017, image: np.ndarray) -> tuple:
    model.enable_coding()
    y = model.analyze(image)
    x_hat = model.synthesize(tf.round(y), tf.shape(image)[:2])
    return y.numpy(), x_hat.numpy(), float(model.estimate_bits(image))


@pytest.mark.slow
def test_imported_values_reproduce_the_model_exactly(tmp_path):
    values = _random_values("K3x3")
    np.savez(tmp_path / "m.npz", **values)
    imported = import_jax_model(str(tmp_path / "m.npz"), lmbda=0.01, num_filters=8, decoder="K3x3")
    for name, value in model_values(imported).items():
        np.testing.assert_allclose(value, values[name], rtol=1e-4, atol=1e-5, err_msg=name)
    reference = BLS2017(lmbda=0.01, num_filters=8, decoder="K3x3")
    load_jax_values(reference, values)
    image = tf.constant(np.random.default_rng(2).integers(0, 256, (48, 64, 3), dtype=np.uint8))
    y1, x1, bits1 = _outputs(imported, image)
    y2, x2, bits2 = _outputs(reference, image)
    np.testing.assert_array_equal(y1, y2)
    np.testing.assert_array_equal(x1, x2)
    assert bits1 == bits2 > 0


def test_weights_of_another_decoder_are_refused():
    with pytest.raises(TfcompError, match="decoder"):
        load_jax_values(BLS2017(lmbda=0.01, num_filters=8, decoder="2L"), _random_values("baseline"))


@pytest.mark.slow
def test_import_script_saves_a_model_with_the_runs_record(cli, tmp_path):
    np.savez(tmp_path / "r.npz", **_random_values("baseline"))
    record = {"lambda": 0.01, "num_filters": 8, "decoder": "baseline", "steps": 123, "wall_seconds": 4.5,
              "device": "NVIDIA H200", "batch": 16, "patch": 128, "lr": 1e-4, "final_lr": 1e-5, "seed": 0,
              "jax": "0.11.2", "half_kernels": True}
    (tmp_path / "r.json").write_text(json.dumps(record))
    out = tmp_path / "bls2017-test"
    result = cli.script("scripts/gpu/import_model.py", str(tmp_path / "r.npz"), str(out), "--family", "bls2017-n8")
    assert result.returncode == 0, result.stderr
    meta = read_metadata(str(out))
    assert meta["training"]["steps"] == 123 and meta["training"]["device"] == "NVIDIA H200"
    assert meta["family"] == "bls2017-n8"
    assert meta["config"]["num_filters"] == 8
    reloaded = load_keras_model(str(out))
    np.testing.assert_allclose(model_values(reloaded)["synthesis/layer_0/kernel"],
                               np.load(tmp_path / "r.npz")["synthesis/layer_0/kernel"], rtol=1e-4, atol=1e-5)


def test_import_script_refuses_bad_input_in_one_line(cli, tmp_path):
    np.savez(tmp_path / "r.npz", **_random_values("baseline"))
    script = os.path.join("scripts", "gpu", "import_model.py")
    out = tmp_path / "m"
    missing = cli.script(script, str(tmp_path / "r.npz"), str(out))
    (tmp_path / "r.json").write_text(json.dumps({"lambda": 0.01, "num_filters": 8, "decoder": "2L"}))
    wrong = cli.script(script, str(tmp_path / "r.npz"), str(out))
    for result in (missing, wrong):
        assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "decoder" in wrong.stderr and not out.exists()
