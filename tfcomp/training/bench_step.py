"""Training-step time of bls2017 on this machine: seconds per optimizer step for each filter count, with and
without XLA (Keras `jit_compile`), on the same input pipeline `tfcomp train` uses (BSDS500 training JPEGs
halved, random crops and flips). It measures what a training recipe can afford per hour; it trains nothing
worth keeping. Run it with nothing else busy.

Writes results/training/bench_train_step.{json,md} (or into --out).

    .venv/bin/python -m tfcomp.training.bench_step [--filters 64,128,192] [--batch 8] [--patch 128] [--steps 40]
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import tensorflow as tf

from tfcomp import report
from tfcomp.data import pipeline
from tfcomp.data.locations import dataset_dir
from tfcomp.errors import run_program
from tfcomp.models.bls2017 import BLS2017

PROGRAM = "python -m tfcomp.training.bench_step"


def seconds_per_step(batches: tf.data.Dataset, num_filters: int, jit: bool, steps: int, warmup: int) -> float:
    """Mean wall seconds of `steps` fit() steps of a fresh bls2017, after `warmup` steps that trace and compile."""
    tf.keras.backend.clear_session()
    model = BLS2017(lmbda=0.01, num_filters=num_filters)
    model.compile(optimizer=tf.keras.optimizers.Adam(1e-4), jit_compile=jit)
    model.fit(batches, steps_per_epoch=warmup, epochs=1, verbose=0)
    start = time.perf_counter()
    model.fit(batches, steps_per_epoch=steps, epochs=1, verbose=0)
    return (time.perf_counter() - start) / steps


def markdown(rows: list[dict]) -> list[str]:
    """The measured table, one row per filter count."""
    return report.table(["N", "s/step", "s/step with XLA", "XLA / plain"],
                        [[r["num_filters"], f"{r['plain_s']:.3f}", f"{r['xla_s']:.3f}",
                          f"{r['xla_s'] / r['plain_s']:.2f}x"] for r in rows])


def main(argv: list[str] | None = None) -> int:
    """Measures every filter count with and without XLA, prints the table and writes it."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--filters", default="64,128,192", help="comma-separated filter counts N")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--patch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=40, help="timed steps per configuration")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first (tracing, XLA compilation)")
    parser.add_argument("--train-data", default=dataset_dir("TFCOMP_BSDS500", "bsds500", "train"))
    parser.add_argument("--out", default="results/training")
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)

    images, count = pipeline.folder_images(args.train_data)
    batches = pipeline.image_dataset(images, args.patch, args.batch, downsample=True)
    rows = []
    for num_filters in (int(n) for n in args.filters.split(",")):
        row = {"num_filters": num_filters}
        for key, jit in (("plain_s", False), ("xla_s", True)):
            row[key] = seconds_per_step(batches, num_filters, jit, args.steps, args.warmup)
            print(f"N={num_filters} {'XLA' if jit else 'plain'}: {row[key]:.3f} s/step", flush=True)
        rows.append(row)
    print("\n".join(markdown(rows)))
    record = {"rows": rows, "batch": args.batch, "patch": args.patch, "steps": args.steps, "warmup": args.warmup,
              "train_data": f"{report.relative(args.train_data)} ({count} images)", "cpus": os.cpu_count(),
              "machine": platform.processor() or platform.machine(), "tensorflow": tf.__version__}
    report.write_results(args.out, "bench_train_step", record, markdown(rows), report.command_line(PROGRAM, argv))
    return 0


if __name__ == "__main__":
    run_program(main)
