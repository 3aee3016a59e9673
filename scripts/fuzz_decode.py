"""Coverage-guided fuzzing of `tfcomp decompress` with atheris (libFuzzer): seeds are valid files of every shipped
model (tfcomp/evaluation/fuzz.py), mutated by libFuzzer or by fuzz.mutate, then usually given a correct CRC-32.
Each input is decoded as the CLI does it, in a sandbox worker with its deadline (tfcomp/cli/sandbox.py; --in-process
decodes here instead, where an input that hangs tfc's range decoder stops the run). Every input must decode or
fail with one error; anything else stops the run with a crash-* file, an input that takes over -timeout seconds
(which must cover a worker's restart) with a timeout-* file. Progress and outcomes go to WORKDIR/summary.json.

    nice -n 15 .venv/bin/python scripts/fuzz_decode.py [--models a,b] [--workdir runs/fuzz] -- -runs=100000
"""
from __future__ import annotations

import argparse
import collections
import functools
import json
import os
import random
import resource
import subprocess
import sys
import time

import atheris

# Coverage of the decode path's Python code (not TensorFlow's) guides libFuzzer.
with atheris.instrument_imports(include=["tfcomp"]):
    from tfcomp import registry  # noqa: F401
    from tfcomp.codecs import container, klt, learned, resae, sdae, shallow, tiling  # noqa: F401
    from tfcomp.cli import sandbox
    from tfcomp.evaluation import fuzz

# libFuzzer's defaults for this harness (later arguments override them).
LIBFUZZER = ["-timeout=120", "-max_len=8192", "-rss_limit_mb=8192", "-print_final_stats=1"]
REPORT_EVERY = 1000


def main() -> None:
    """Writes the seed corpus, then hands over to libFuzzer (which exits the process when done)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", help="comma-separated shipped models (default: all)")
    parser.add_argument("--workdir", default="runs/fuzz", help="corpus, findings and summary.json")
    parser.add_argument("--in-process", action="store_true", help="decode in this process, not in a sandbox worker")
    parser.add_argument("libfuzzer", nargs="*", help="libFuzzer options after --, e.g. -runs=100000")
    parser.add_argument("--write-seeds", metavar="DIR", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.write_seeds:
        for name, data in fuzz.seed_files(args.models.split(",") if args.models else None).items():
            with open(os.path.join(args.write_seeds, f"seed-{name}.tfc"), "wb") as f:
                f.write(data)
        return
    corpus = os.path.join(args.workdir, "corpus")
    os.makedirs(corpus, exist_ok=True)
    # Seeds are made in a child process, so that only the worker holds the models.
    subprocess.run([sys.executable, __file__, "--write-seeds", corpus, *(["--models", args.models] if args.models
                                                                       else [])], check=True)
    seeds = {}
    for name in sorted(os.listdir(corpus)):
        if name.startswith("seed-"):
            with open(os.path.join(corpus, name), "rb") as f:
                seeds[name[5:-4]] = f.read()
    files = list(seeds.values())
    if args.in_process:
        check = fuzz.check
    else:
        decoder, scratch = sandbox.Decoder(), os.path.join(args.workdir, "scratch")
        os.makedirs(scratch, exist_ok=True)
        check = functools.partial(fuzz.check_in_worker, decoder=decoder, folder=scratch)
    for data in files:
        check(data)  # loads and traces every model once, so that no input's time includes it
    counts: collections.Counter = collections.Counter()
    start, slowest = time.time(), {"decoded or refused": 0.0, "stopped": 0.0}

    def test_one_input(data: bytes) -> None:
        began = time.monotonic()
        outcome = check(data)
        counts[outcome] += 1
        kind = "stopped" if outcome.startswith("stopped") else "decoded or refused"
        slowest[kind] = max(slowest[kind], round(time.monotonic() - began, 2))
        if sum(counts.values()) % REPORT_EVERY == 0:
            summary = dict(inputs=sum(counts.values()), seconds=round(time.time() - start, 1),
                           slowest_input_s=slowest, sandboxed=not args.in_process,
                           decoded=counts["decoded"], refused=sum(counts.values()) - counts["decoded"],
                           seeds=sorted(seeds), max_pixels=fuzz.FUZZ_MAX_PIXELS,
                           peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                           outcomes=dict(counts.most_common()))
            with open(os.path.join(args.workdir, "summary.json"), "w") as f:
                json.dump(summary, f, indent=1)
            print(json.dumps(summary), flush=True)

    def custom_mutator(data: bytes, max_size: int, seed: int) -> bytes:
        rng = random.Random(seed)
        if rng.random() < 0.75:
            # Often from a valid file: libFuzzer's corpus fills with inputs the header refuses, which add
            # coverage but never reach the range decoder.
            return fuzz.mutate(rng.choice(files) if rng.random() < 0.5 else data, rng, files)[:max_size]
        mutated = atheris.Mutate(data, max_size)
        return fuzz.fix_crc(mutated) if rng.random() < 0.9 else mutated

    artifacts = os.path.join(args.workdir, "findings") + os.sep
    os.makedirs(artifacts, exist_ok=True)
    atheris.Setup([sys.argv[0], *LIBFUZZER, f"-artifact_prefix={artifacts}", *args.libfuzzer, corpus],
                  test_one_input, custom_mutator=custom_mutator)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
