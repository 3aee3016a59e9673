#!/usr/bin/env python
"""Training-step time of bls2017 on this machine: seconds per optimizer step for each filter count, with and
without XLA (Keras `jit_compile`), on the same input pipeline `tfcomp train` uses (BSDS500 training JPEGs
halved, random crops and flips). It measures what a training recipe can afford per hour; it trains nothing
worth keeping. Run it with nothing else busy.

Writes results/training/bench_train_step.{json,md} (or into --out).

    .venv/bin/python scripts/bench_train_step.py [--filters 64,128,192] [--batch 8] [--patch 128] [--steps 40]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tensorflow as tf  # noqa: E402

from tfcomp.data import pipeline  # noqa: E402
from tfcomp.data.locations import dataset_dir  # noqa: E402
from tfcomp.models.bls2017 import BLS2017  # noqa: E402


def seconds_per_step(batches: tf.data.Dataset, num_filters: int, jit: bool, steps: int, warmup: int) -> float:
    """Mean wall seconds of `steps` fit() steps of a fresh bls2017, after `warmup` steps that trace and compile."""
    tf.keras.backend.clear_session()
    model = BLS2017(lmbda=0.01, num_filters=num_filters)
    model.compile(optimizer=tf.keras.optimizers.Adam(1e-4), jit_compile=jit)
    model.fit(batches, steps_per_epoch=warmup, epochs=1, verbose=0)
    start = time.perf_counter()
    model.fit(batches, steps_per_epoch=steps, epochs=1, verbose=0)
    return (time.perf_counter() - start) / steps


def markdown(rows: list[dict]) -> str:
    """The measured table, one row per filter count."""
    lines = ["| N | s/step | s/step with XLA | XLA / plain |", "|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row['num_filters']} | {row['plain_s']:.3f} | {row['xla_s']:.3f} | "
                     f"{row['xla_s'] / row['plain_s']:.2f}x |")
    return "\n".join(lines) + "\n"


def main() -> None:
    """Measures every filter count with and without XLA, prints the table and writes it."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--filters", default="64,128,192", help="comma-separated filter counts N")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--patch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=40, help="timed steps per configuration")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first (tracing, XLA compilation)")
    parser.add_argument("--train-data", default=dataset_dir("TFCOMP_BSDS500", "bsds500", "train"))
    parser.add_argument("--out", default="results/training")
    args = parser.parse_args()

    images, count = pipeline.folder_images(args.train_data)
    batches = pipeline.image_dataset(images, args.patch, args.batch, downsample=True)
    rows = []
    for num_filters in (int(n) for n in args.filters.split(",")):
        row = {"num_filters": num_filters}
        for key, jit in (("plain_s", False), ("xla_s", True)):
            row[key] = seconds_per_step(batches, num_filters, jit, args.steps, args.warmup)
            print(f"N={num_filters} {'XLA' if jit else 'plain'}: {row[key]:.3f} s/step", flush=True)
        rows.append(row)

    table = markdown(rows)
    print(table)
    os.makedirs(args.out, exist_ok=True)
    record = {"rows": rows, "batch": args.batch, "patch": args.patch, "steps": args.steps, "warmup": args.warmup,
              "train_data": f"{args.train_data} ({count} images)", "cpus": os.cpu_count(),
              "machine": platform.processor() or platform.machine(), "tensorflow": tf.__version__}
    with open(os.path.join(args.out, "bench_train_step.json"), "w") as f:
        json.dump(record, f, indent=1)
    with open(os.path.join(args.out, "bench_train_step.md"), "w") as f:
        f.write(table)


if __name__ == "__main__":
    main()
