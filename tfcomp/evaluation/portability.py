"""Do files decode the same across processes and CPU kernels? Every shipped model (its default rate point) codes
every image with TensorFlow's oneDNN kernels (TF_ENABLE_ONEDNN_OPTS=1) and without them (=0), each in its own
process; other processes decode them with the same and the other kernels, and with one thread. Compared: every
file decodes, the decoded latents are identical, the pixels are identical with the same kernels in any process
and within one grey level with other kernels.

    nice -n 15 .venv/bin/python -m tfcomp.evaluation.portability [--models a,b] [--images DIR] \\
        [--out results/reliability/portability.json]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time

import numpy as np

from tfcomp import report
from tfcomp.errors import run_program

PROGRAM = "python -m tfcomp.evaluation.portability"
# (process label, TF_ENABLE_ONEDNN_OPTS, threads, file set it encodes or None, file sets it decodes)
PROCESSES = (
    ("onednn", "1", 0, "onednn", ["onednn"]),
    ("eigen", "0", 0, "eigen", ["eigen", "onednn"]),
    ("onednn-again", "1", 0, None, ["eigen", "onednn"]),
    ("onednn-1-thread", "1", 1, None, ["onednn"]),
)


def worker(args: argparse.Namespace) -> None:
    """One process: encodes a file set and/or decodes file sets, keeping pixels and latent digests."""
    import tensorflow as tf

    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    from tfcomp.codecs import container, learned
    from tfcomp.data.images import list_images, read_image

    digests = {}
    for model in args.models.split(","):
        codec = learned.load(model)
        for path in list_images(args.images):
            image_name = os.path.splitext(os.path.basename(path))[0]
            if args.encode:
                os.makedirs(os.path.join(args.work, "files", args.encode, model), exist_ok=True)
                with open(os.path.join(args.work, "files", args.encode, model, image_name + ".tfc"), "wb") as f:
                    f.write(codec.encode(read_image(path)[0]))
            for source in args.decode.split(","):
                with open(os.path.join(args.work, "files", source, model, image_name + ".tfc"), "rb") as f:
                    c = container.unpack(f.read())
                w, key = codec._width(), f"{source}@{args.label}/{model}/{image_name}"
                try:
                    y_hat = codec.model.entropy_decode(tf.constant(c.strings),
                                                       tf.constant(c.latent_shapes, tf.int32), *w)
                except tf.errors.InvalidArgumentError:  # the range decoder's sanity check
                    digests[key] = "failed"
                    continue
                pixels = codec.model.synthesize(y_hat, tf.constant([c.height, c.width], tf.int32), *w).numpy()
                folder = os.path.join(args.work, "pixels", f"{source}@{args.label}", model)
                os.makedirs(folder, exist_ok=True)
                np.save(os.path.join(folder, image_name + ".npy"), pixels)
                digests[key] = hashlib.sha256(y_hat.numpy().tobytes()).hexdigest()
    with open(os.path.join(args.work, f"latents-{args.label}.json"), "w") as f:
        json.dump(digests, f)


def compare(work: str, models: list[str], images: list[str]) -> dict:
    """Per model: files decoded, latents identical everywhere, largest pixel difference per comparison."""
    digests = {}
    for label, *_ in PROCESSES:
        with open(os.path.join(work, f"latents-{label}.json")) as f:
            digests.update(json.load(f))
    pairs = {  # (decode a, decode b): what must hold
        "same kernels, another process": ("onednn@onednn", "onednn@onednn-again"),
        "oneDNN files decoded without oneDNN": ("onednn@onednn", "onednn@eigen"),
        "files without oneDNN decoded with it": ("eigen@eigen", "eigen@onednn-again"),
        "one thread": ("onednn@onednn", "onednn@onednn-1-thread"),
    }
    results = {}
    for model in models:
        entry = {"images": len(images)}
        for what, (a, b) in pairs.items():
            differences, latents_equal, failed = [], 0, 0
            for image in images:
                da, db = digests[f"{a}/{model}/{image}"], digests[f"{b}/{model}/{image}"]
                if "failed" in (da, db):
                    failed += 1
                    continue
                pa, pb = (np.load(os.path.join(work, "pixels", d, model, image + ".npy")).astype(int) for d in (a, b))
                differences.append(int(np.abs(pa - pb).max()))
                latents_equal += da == db
            entry[what] = {"decode failed": failed, "latents identical": f"{latents_equal}/{len(images)}",
                           "max pixel difference": max(differences, default=None),
                           "images with any difference": sum(d > 0 for d in differences)}
        results[model] = entry
    return results


def main(argv: list[str] | None = None) -> int:
    """Runs the processes one after another, then compares."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", help="comma-separated shipped models (default: all)")
    parser.add_argument("--images", default="../shared/datasets/kodak")
    parser.add_argument("--work", default="/tmp/tfcomp-portability")
    parser.add_argument("--out", default="results/reliability/portability.json")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--label", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--encode", help=argparse.SUPPRESS)
    parser.add_argument("--decode", help=argparse.SUPPRESS)
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    if args.worker:
        worker(args)
        return 0
    from tfcomp import zoo
    from tfcomp.data.images import list_images

    models = args.models.split(",") if args.models else [m["name"] for m in zoo.list_models()]
    images = [os.path.splitext(os.path.basename(p))[0] for p in list_images(args.images)]
    start = time.time()
    for label, kernels, threads, encode, decode in PROCESSES:
        command = [sys.executable, "-m", "tfcomp.evaluation.portability", "--worker", "--label", label, "--threads", str(threads), "--models",
                   ",".join(models), "--images", args.images, "--work", args.work, "--decode", ",".join(decode)]
        env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": kernels, "TF_CPP_MIN_LOG_LEVEL": "3",
               **({"OMP_NUM_THREADS": "1"} if threads == 1 else {})}
        print(f"{label}: TF_ENABLE_ONEDNN_OPTS={kernels}" + (f", {threads} thread" if threads else ""), flush=True)
        subprocess.run(command + (["--encode", encode] if encode else []), env=env, check=True)
    record = {"seconds": round(time.time() - start), "processes": [
        dict(label=p[0], TF_ENABLE_ONEDNN_OPTS=p[1], threads=p[2] or "all", encodes=p[3], decodes=p[4])
        for p in PROCESSES], "models": compare(args.work, models, images)}
    report.write_record(args.out, record, report.command_line(PROGRAM, argv))
    print(json.dumps(record["models"], indent=1))
    return 0


if __name__ == "__main__":
    run_program(main)
