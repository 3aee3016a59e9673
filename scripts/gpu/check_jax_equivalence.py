"""Checks that a JAX-trained .npz gives the same latents, image and bits in tfcomp's Keras model as in JAX.

Two halves, because the JAX and TensorFlow 2.14 environments are separate:
  PYTHONPATH=. python3 scripts/gpu/check_jax_equivalence.py jax MODEL.npz DECODER IMAGE REF.npz   (with JAX)
  .venv/bin/python scripts/gpu/check_jax_equivalence.py tf MODEL.npz DECODER IMAGE REF.npz LAMBDA
The second prints the largest differences and exits 1 if the two disagree beyond float32 round-off.
"""
from __future__ import annotations

import sys

import numpy as np
from PIL import Image


def jax_side(model: str, decoder: str, image_path: str, ref: str) -> None:
    """Latents, rounded latents, their ideal bits and the decoded image, computed in JAX."""
    import jax.numpy as jnp

    import bls2017_jax as bj  # beside this file, which Python puts on the path of a script it runs

    with np.load(model) as data:
        params = bj.params_from_values({k: data[k] for k in data.files})
    x = jnp.asarray(np.asarray(Image.open(image_path).convert("RGB")), jnp.float32)[None]
    y = bj.analysis(params, x)
    medians = bj.prior_medians(params["prior"], y.shape[-1])
    y_hat = jnp.round(y - medians) + medians
    bits = -jnp.sum(bj.log_prob(params["prior"], y_hat)) / np.log(2)
    x_hat = bj.synthesis(params, y_hat, decoder)
    np.savez(ref, y=np.asarray(y), y_hat=np.asarray(y_hat), bits=float(bits), x_hat=np.asarray(x_hat),
             medians=np.asarray(medians))


def tf_side(model_path: str, decoder: str, image_path: str, ref: str, lmbda: float) -> int:
    """Runs the imported Keras model on the same image and compares with the JAX reference."""
    import tensorflow as tf

    from tfcomp.training.jax_import import import_jax_model

    r = np.load(ref)
    num_filters = r["y"].shape[-1]
    model = import_jax_model(model_path, lmbda, num_filters, decoder)
    x = np.asarray(Image.open(image_path).convert("RGB"))
    y = model.analyze(tf.constant(x)).numpy()
    x_hat = model.synthesis_transform(tf.constant(r["y_hat"])).numpy()
    model.enable_coding()
    bits = float(model.estimate_bits(tf.constant(x)))
    offsets = model.entropy_model.quantization_offset.numpy()
    checks = {
        "latents (max abs diff)": (np.abs(y - r["y"]).max(), 1e-3 * max(1.0, np.abs(r["y"]).max())),
        "decoded image 0..255 (max abs diff)": (np.abs(x_hat - r["x_hat"]).max(), 0.05),
        # tfc keeps only the fractional part of the median (its tail search stops at ~1e-3): the same grid.
        "quantization offsets vs JAX medians, mod 1 (max abs diff)":
            (np.abs((offsets - r["medians"] + 0.5) % 1.0 - 0.5).max(), 1e-2),
        "ideal bits (relative diff)": (abs(bits - float(r["bits"])) / float(r["bits"]), 1e-3),
    }
    failed = 0
    for name, (value, tolerance) in checks.items():
        ok = value <= tolerance
        failed += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {name}: {value:.3g} (tolerance {tolerance:.3g})")
    return 1 if failed else 0


if __name__ == "__main__":
    if sys.argv[1] == "jax":
        jax_side(*sys.argv[2:6])
    else:
        sys.exit(tf_side(*sys.argv[2:6], float(sys.argv[6])))
