"""Trains bls2017 models (and the lighter decoder variants) in JAX, for a GPU machine without TensorFlow 2.14.

Such machines run Python 3.12 with JAX but no TensorFlow, and TF 2.14 / tensorflow-compression 2.14.1 have no
Python 3.12 builds, so tfcomp's Keras training cannot run there. This file re-states the same model in JAX with
the exact layer semantics of tfc (checked against tfc by scripts/gpu/check_jax_equivalence.py):
  SignalConv2D(corr=True, strides_down=s, same_zeros)  = cross-correlation, (k-1)/2 zeros each side, stride s;
  SignalConv2D(corr=False, strides_up=s, same_zeros)   = convolution (flipped kernel) of the s-dilated input,
                                                         (k-1)/2 zeros before and s+k-2-(k-1)/2 after;
  GDN / IGDN with tfc's defaults (alpha = epsilon = 1, the simplified GDN): x / (beta + conv1x1(|x|, gamma))
  and x * (...);
  NoisyDeepFactorized(num_filters=(3, 3), init_scale=10) as the prior, bits = -log2 p(y + U(-.5, .5)).
It saves each trained model as an .npz of the tfc layers' *values* (kernel, bias, beta, gamma, prior variables),
which `tfcomp.training.jax_import` loads into a tfcomp BLS2017 Keras model and saves like any trained model.

Data: BSDS500 training JPEGs, halved by 2x2 box averaging (JPEG blocking is not learned), portrait images
turned to landscape, kept on the GPU; random patch crops with horizontal flips are cut inside the jitted step.

  PYTHONPATH=. python3 scripts/gpu/bls2017_jax.py --lambda 0.008 --decoder K3x3 -N 192 --seconds 420 \
      --out model.npz --train-data DIR [--kodak DIR]

(run from the repository: PYTHONPATH=. gives it tfcomp.models.decoder_variants without installing tfcomp.)
"""
from __future__ import annotations

import argparse
import glob
import json
import math
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax
from PIL import Image

from tfcomp.models.decoder_variants import DECODER_VARIANTS  # a TensorFlow-free module

DIMS = ("NHWC", "HWIO", "NHWC")
PRIOR_FILTERS = (1, 3, 3, 1)
PRIOR_INIT_SCALE = 10.0


# ---- parameters: stored as the values tfc's layers compute, trained through simple reparameterizations ----

def _conv_init(key, k: int, c_in: int, c_out: int) -> jnp.ndarray:
    # Keras' VarianceScaling (fan-in, truncated normal), SignalConv2D's default initializer.
    std = math.sqrt(1.0 / (k * k * c_in)) / 0.87962566103423978
    return std * jax.random.truncated_normal(key, -2.0, 2.0, (k, k, c_in, c_out))


def _gdn_init(channels: int) -> dict:
    # beta = b^2 + 1e-6 and gamma = g^2 keep both non-negative; tfc starts at beta 1 and gamma 0.1 I.
    return {"beta_sqrt": jnp.ones(channels), "gamma_sqrt": jnp.sqrt(0.1) * jnp.eye(channels)}


def init_params(key, num_filters: int, decoder: str) -> dict:
    """Random parameters of the analysis, synthesis (the named decoder) and prior, tfc's initialization."""
    keys = iter(jax.random.split(key, 16))
    n = num_filters
    params = {"analysis": [], "synthesis": []}
    for i, (k, c_in, bias, gdn) in enumerate(((9, 3, True, True), (5, n, True, True), (5, n, False, False))):
        layer = {"rdft": to_rdft(_conv_init(next(keys), k, c_in, n))}
        if bias:
            layer["bias"] = jnp.zeros(n)
        if gdn:
            layer["gdn"] = _gdn_init(n)
        params["analysis"].append(layer)
    spec = DECODER_VARIANTS[decoder]
    c_in = n
    for i, (k, _) in enumerate(spec):
        c_out = 3 if i == len(spec) - 1 else n
        layer = {"rdft": to_rdft(_conv_init(next(keys), k, c_in, c_out)), "bias": jnp.zeros(c_out)}
        if i < len(spec) - 1:
            layer["gdn"] = _gdn_init(c_out)
        params["synthesis"].append(layer)
        c_in = c_out
    scale = PRIOR_INIT_SCALE ** (1 / (len(PRIOR_FILTERS) - 1))
    prior = {"matrix": [], "bias": [], "factor": []}
    for i in range(len(PRIOR_FILTERS) - 1):
        f_in, f_out = PRIOR_FILTERS[i], PRIOR_FILTERS[i + 1]
        prior["matrix"].append(jnp.full((n, f_out, f_in), math.log(math.expm1(1 / scale / f_out))))
        prior["bias"].append(jax.random.uniform(next(keys), (n, f_out, 1), minval=-0.5, maxval=0.5))
        if i < len(PRIOR_FILTERS) - 2:
            prior["factor"].append(jnp.zeros((n, f_out, 1)))
    params["prior"] = prior
    return params


def gdn_values(gdn: dict) -> tuple[jnp.ndarray, jnp.ndarray]:
    """(beta, gamma) as tfc's GDN uses them."""
    return gdn["beta_sqrt"] ** 2 + 1e-6, gdn["gamma_sqrt"] ** 2


def to_rdft(kernel: jnp.ndarray) -> dict:
    """tfc.RDFTParameter: the kernel (k, k, in, out) as the orthonormal real 2-D DFT of its spatial dims.

    Adam on these coefficients is what makes tfc's training stable at its learning rates; on plain kernels
    the same rates made the IGDN decoders blow up (measured on a GPU)."""
    k = kernel.shape[0]
    rdft = jnp.fft.rfft2(jnp.transpose(kernel, (2, 3, 0, 1))) / k
    return {"real": jnp.real(rdft), "imag": jnp.imag(rdft)}


def kernel_of(layer: dict) -> jnp.ndarray:
    """The spatial kernel (k, k, in, out) of a layer's RDFT coefficients."""
    k = layer["rdft"]["real"].shape[-2]
    rdft = (layer["rdft"]["real"] + 1j * layer["rdft"]["imag"]) * k
    return jnp.transpose(jnp.fft.irfft2(rdft, s=(k, k)), (2, 3, 0, 1))


# ---- transforms ----

def gdn(x: jnp.ndarray, params: dict, inverse: bool) -> jnp.ndarray:
    """tfc.GDN with its defaults: x / (beta + sum_j gamma[j, i] |x_j|), or times it for the inverse."""
    beta, gamma = gdn_values(params)
    norm = jnp.einsum("nhwj,ji->nhwi", jnp.abs(x), gamma) + beta
    return x * norm if inverse else x / norm


def conv_down(x: jnp.ndarray, kernel: jnp.ndarray, stride: int) -> jnp.ndarray:
    """SignalConv2D(corr=True, strides_down=stride, padding='same_zeros')."""
    pad = (kernel.shape[0] - 1) // 2
    return lax.conv_general_dilated(x, kernel, (stride, stride), [(pad, pad)] * 2, dimension_numbers=DIMS)


def conv_up(x: jnp.ndarray, kernel: jnp.ndarray, stride: int) -> jnp.ndarray:
    """SignalConv2D(corr=False, strides_up=stride, padding='same_zeros')."""
    k = kernel.shape[0]
    lo = (k - 1) // 2
    return lax.conv_general_dilated(x, kernel[::-1, ::-1], (1, 1), [(lo, stride + k - 2 - lo)] * 2,
                                    lhs_dilation=(stride, stride), dimension_numbers=DIMS)


def analysis(params: dict, x: jnp.ndarray) -> jnp.ndarray:
    """Image in 0..255 -> latents at 1/16 resolution."""
    y = x / 255.0
    for layer, stride in zip(params["analysis"], (4, 2, 2)):
        y = conv_down(y, kernel_of(layer), stride)
        if "bias" in layer:
            y = y + layer["bias"]
        if "gdn" in layer:
            y = gdn(y, layer["gdn"], inverse=False)
    return y


def synthesis(params: dict, y: jnp.ndarray, decoder: str) -> jnp.ndarray:
    """Latents -> image in 0..255 with the named decoder's layers."""
    for layer, (_, stride) in zip(params["synthesis"], DECODER_VARIANTS[decoder]):
        y = conv_up(y, kernel_of(layer), stride) + layer["bias"]
        if "gdn" in layer:
            y = gdn(y, layer["gdn"], inverse=True)
    return y * 255.0


# ---- prior ----

def prior_logits(prior: dict, y: jnp.ndarray) -> jnp.ndarray:
    """Logits of the deep factorized cumulative at y (..., channels), as tfc.DeepFactorized computes them."""
    shape = y.shape
    logits = jnp.transpose(y.reshape(-1, 1, shape[-1]), (2, 1, 0))  # (channels, 1, values)
    for i, matrix in enumerate(prior["matrix"]):
        logits = jnp.matmul(jax.nn.softplus(matrix), logits) + prior["bias"][i]
        if i < len(prior["factor"]):
            logits = logits + jnp.tanh(prior["factor"][i]) * jnp.tanh(logits)
    return jnp.transpose(logits, (2, 1, 0)).reshape(shape)


def log_prob(prior: dict, y: jnp.ndarray) -> jnp.ndarray:
    """log p(y) of the prior convolved with U(-.5, .5), with tfc's choice of cdf or survival side."""
    upper, lower = prior_logits(prior, y + 0.5), prior_logits(prior, y - 0.5)
    right_side = -upper < upper  # log sf(y + .5) < log cdf(y + .5): subtract survival functions instead
    big = jnp.where(right_side, jax.nn.log_sigmoid(-lower), jax.nn.log_sigmoid(upper))
    small = jnp.where(right_side, jax.nn.log_sigmoid(-upper), jax.nn.log_sigmoid(lower))
    # The bound (p >= ~1e-6 of the larger term) keeps gradients finite where both cumulatives saturate.
    return big + jnp.log1p(-jnp.exp(jnp.minimum(small - big, -1e-6)))


def prior_medians(prior: dict, channels: int) -> jnp.ndarray:
    """Per-channel median (logit 0) by bisection: the offset tfc rounds the latents around."""
    lo, hi = jnp.full(channels, -100.0), jnp.full(channels, 100.0)
    for _ in range(60):
        mid = (lo + hi) / 2
        positive = prior_logits(prior, mid[None])[0] > 0
        lo, hi = jnp.where(positive, lo, mid), jnp.where(positive, mid, hi)
    return (lo + hi) / 2


# ---- loss, data, training ----

def rate_distortion(params: dict, x: jnp.ndarray, key, lmbda: float, decoder: str):
    """(loss, (bpp, mse)) with uniform noise standing in for rounding."""
    y = analysis(params, x)
    y_tilde = y + jax.random.uniform(key, y.shape, minval=-0.5, maxval=0.5)
    bits = -jnp.sum(log_prob(params["prior"], y_tilde)) / math.log(2)
    bpp = bits / (x.shape[0] * x.shape[1] * x.shape[2])
    mse = jnp.mean((x - synthesis(params, y_tilde, decoder)) ** 2)
    return bpp + lmbda * mse, (bpp, mse)


def load_training_images(folder: str) -> np.ndarray:
    """BSDS500 JPEGs halved by 2x2 box averaging, all landscape, cropped to one shape: (n, h, w, 3) uint8."""
    files = sorted(f for f in glob.glob(os.path.join(folder, "*")) if f.lower().endswith((".jpg", ".png")))
    if not files:
        sys.exit(f"bls2017_jax.py: no .jpg or .png images in {folder!r}")
    images = []
    for path in files:
        image = Image.open(path).convert("RGB").reduce(2)
        if image.height > image.width:
            image = image.transpose(Image.Transpose.ROTATE_90)
        images.append(np.asarray(image))
    height = min(i.shape[0] for i in images)
    width = min(i.shape[1] for i in images)
    return np.stack([i[:height, :width] for i in images])


def random_crops(images: jnp.ndarray, key, batch: int, patch: int) -> jnp.ndarray:
    """A batch of random patch x patch crops, half of them flipped left-right, as float32 0..255."""
    k_index, k_y, k_x, k_flip = jax.random.split(key, 4)
    n, h, w, _ = images.shape
    index = jax.random.randint(k_index, (batch,), 0, n)
    oy = jax.random.randint(k_y, (batch,), 0, h - patch + 1)
    ox = jax.random.randint(k_x, (batch,), 0, w - patch + 1)
    crops = jax.vmap(lambda i, a, b: lax.dynamic_slice(images[i], (a, b, 0), (patch, patch, 3)))(index, oy, ox)
    flip = jax.random.bernoulli(k_flip, 0.5, (batch,))
    crops = jnp.where(flip[:, None, None, None], crops[:, :, ::-1], crops)
    return crops.astype(jnp.float32)


def evaluate(params: dict, images: list[np.ndarray], decoder: str) -> dict:
    """Mean bpp (ideal code length of the rounded latents) and PSNR over whole images, as tfc would code them."""
    medians = prior_medians(params["prior"], params["analysis"][-1]["rdft"]["real"].shape[1])
    bpps, psnrs = [], []
    for image in images:
        h, w = image.shape[:2]
        x = jnp.asarray(image, jnp.float32)[None]
        pad = ((0, 0), (0, -h % 16), (0, -w % 16), (0, 0))
        y = analysis(params, jnp.pad(x, pad))
        y_hat = jnp.round(y - medians) + medians
        bits = -jnp.sum(log_prob(params["prior"], y_hat)) / math.log(2)
        x_hat = jnp.clip(jnp.round(synthesis(params, y_hat, decoder)[:, :h, :w]), 0, 255)
        bpps.append(float(bits) / (h * w))
        psnrs.append(float(10 * jnp.log10(255.0 ** 2 / jnp.mean((x - x_hat) ** 2))))
    return {"bpp": float(np.mean(bpps)), "psnr": float(np.mean(psnrs)), "images": len(images)}


def export_values(params: dict, half_kernels: bool) -> dict[str, np.ndarray]:
    """Flat {name: array} of the values tfc's layers use; kernels optionally as float16 (to fit the transfer)."""
    values = {}
    for part in ("analysis", "synthesis"):
        for i, layer in enumerate(params[part]):
            kernel = np.asarray(kernel_of(layer), np.float32)
            values[f"{part}/layer_{i}/kernel"] = kernel.astype(np.float16) if half_kernels else kernel
            if "bias" in layer:
                values[f"{part}/layer_{i}/bias"] = np.asarray(layer["bias"], np.float32)
            if "gdn" in layer:
                beta, gamma = gdn_values(layer["gdn"])
                values[f"{part}/layer_{i}/beta"] = np.asarray(beta, np.float32)
                values[f"{part}/layer_{i}/gamma"] = np.asarray(gamma, np.float32)
    for kind in ("matrix", "bias", "factor"):
        for i, value in enumerate(params["prior"][kind]):
            values[f"prior/{kind}_{i}"] = np.asarray(value, np.float32)
    return values


def params_from_values(values: dict[str, np.ndarray]) -> dict:
    """The inverse of export_values: trainable parameters from the stored tfc values."""
    def layers(part):
        out, i = [], 0
        while f"{part}/layer_{i}/kernel" in values:
            name = f"{part}/layer_{i}"
            layer = {"rdft": to_rdft(jnp.asarray(values[f"{name}/kernel"], jnp.float32))}
            if f"{name}/bias" in values:
                layer["bias"] = jnp.asarray(values[f"{name}/bias"])
            if f"{name}/beta" in values:
                layer["gdn"] = {"beta_sqrt": jnp.sqrt(jnp.asarray(values[f"{name}/beta"]) - 1e-6),
                                "gamma_sqrt": jnp.sqrt(jnp.asarray(values[f"{name}/gamma"]))}
            out.append(layer)
            i += 1
        return out

    prior = {kind: [jnp.asarray(values[f"prior/{kind}_{i}"]) for i in range(len(PRIOR_FILTERS) - 1)
                    if f"prior/{kind}_{i}" in values] for kind in ("matrix", "bias", "factor")}
    return {"analysis": layers("analysis"), "synthesis": layers("synthesis"), "prior": prior}


def with_half_kernels(params: dict) -> dict:
    """The parameters with every kernel rounded through float16, as export_values(half_kernels=True) ships them."""
    def half(layer):
        return {**layer, "rdft": to_rdft(kernel_of(layer).astype(jnp.float16).astype(jnp.float32))}
    return {**params, "analysis": [half(l) for l in params["analysis"]],
            "synthesis": [half(l) for l in params["synthesis"]]}


def learning_rate(args: argparse.Namespace, fraction: float) -> float:
    """Linear warm-up over the first 2% of the run, then cosine decay to --final-lr at its end."""
    if fraction < 0.02:
        return args.lr * fraction / 0.02
    cosine = 0.5 * (1 + math.cos(math.pi * min(1.0, (fraction - 0.02) / 0.98)))
    return args.final_lr + (args.lr - args.final_lr) * cosine


def train(args: argparse.Namespace) -> None:
    """Trains until --steps or --seconds (the schedule follows whichever is the budget), evaluates, saves."""
    images = jnp.asarray(load_training_images(args.train_data))
    key = jax.random.key(args.seed)
    key, init_key = jax.random.split(key)
    params = init_params(init_key, args.num_filters, args.decoder)
    optimizer = optax.scale_by_adam()
    state = optimizer.init(params)

    @jax.jit
    def step(params, state, images, key, lr):
        k_crop, k_noise = jax.random.split(key)
        x = random_crops(images, k_crop, args.batch, args.patch)
        (loss, (bpp, mse)), grads = jax.value_and_grad(rate_distortion, has_aux=True)(
            params, x, k_noise, args.lmbda, args.decoder)
        updates, state = optimizer.update(grads, state, params)
        params = jax.tree_util.tree_map(lambda p, u: p - lr * u, params, updates)
        return params, state, loss, bpp, mse

    start = time.time()
    done, log, lr_scale, good, good_loss = 0, [], 1.0, (params, state), math.inf
    while True:
        fraction = max(done / args.steps, (time.time() - start) / args.seconds)
        if fraction >= 1:
            break
        key, sub = jax.random.split(key)
        params, state, loss, bpp, mse = step(params, state, images, sub, lr_scale * learning_rate(args, fraction))
        done += 1
        if done == 1:  # the starting point is the first good state
            good_loss = float(loss)
        if done % args.log_every == 0:
            # Diverged (the first GPU run's decoders blew up without a NaN: MSE 1e12): back to the last good
            # state at half the learning rate.
            if not np.isfinite(float(loss)) or float(loss) > 5 * good_loss:
                params, state, lr_scale = good[0], good[1], lr_scale / 2
                print(json.dumps({"name": args.name, "step": done, "diverged": float(loss), "lr_scale": lr_scale}))
                continue
            good, good_loss = (params, state), float(loss)
            log.append({"step": done, "seconds": round(time.time() - start, 1), "loss": float(loss),
                        "bpp": float(bpp), "mse": float(mse)})
            print(json.dumps({"name": args.name, **log[-1]}), flush=True)
    wall = time.time() - start
    record = {"name": args.name, "lambda": args.lmbda, "num_filters": args.num_filters, "decoder": args.decoder,
              "steps": done, "wall_seconds": round(wall, 1), "batch": args.batch,
              "patch": args.patch, "lr": args.lr, "final_lr": args.final_lr, "seed": args.seed,
              "half_kernels": args.half_kernels,
              "lr_scale": lr_scale, "device": str(jax.devices()[0].device_kind), "jax": jax.__version__,
              "log": log}
    if args.kodak:  # in full float32 (GPUs train in TF32), like tfcomp's CPU codec
        kodak = [np.asarray(Image.open(p).convert("RGB")) for p in sorted(glob.glob(os.path.join(args.kodak, "*.png")))]
        with jax.default_matmul_precision("float32"):
            record["kodak_float32"] = evaluate(params, kodak, args.decoder)
            record["kodak_shipped_kernels"] = evaluate(with_half_kernels(params), kodak, args.decoder)
    np.savez(args.out, **export_values(params, half_kernels=args.half_kernels))
    with open(os.path.splitext(args.out)[0] + ".json", "w") as f:
        json.dump(record, f, indent=1)
    print(json.dumps({k: v for k, v in record.items() if k != "log"}), flush=True)


def main() -> None:
    """Command line: one model per process (run several at once to share the GPU)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--name", required=True)
    parser.add_argument("--lambda", dest="lmbda", type=float, required=True)
    parser.add_argument("-N", "--num-filters", type=int, default=192)
    parser.add_argument("--decoder", default="baseline", choices=sorted(DECODER_VARIANTS))
    parser.add_argument("--train-data", required=True)
    parser.add_argument("--kodak", help="Kodak folder: evaluate there after training (never trained on)")
    parser.add_argument("--steps", type=int, default=200000, help="stop after this many steps")
    parser.add_argument("--seconds", type=float, default=1e9,
                        help="or after this much wall time; the learning-rate schedule spans whichever comes first")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--patch", type=int, default=128)
    parser.add_argument("--lr", type=float, default=4e-4)
    parser.add_argument("--final-lr", type=float, default=1e-5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--log-every", type=int, default=1000, help="steps between progress lines")
    parser.add_argument("--half-kernels", action="store_true", help="store kernels as float16")
    parser.add_argument("--out", required=True, help="output .npz (a .json record is written beside it)")
    train(parser.parse_args())


if __name__ == "__main__":
    main()
