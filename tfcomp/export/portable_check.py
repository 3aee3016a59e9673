"""Acceptance run of the portable decoder (tflite/tfcdecode.py) on Kodak, and its fuzz run.

For each rate point (a model; a width of a slimmable model), in this order: this process (tfcomp's venv)
exports the TFLite float32 synthesis and tables, codes every Kodak image with `tfcomp`'s codec, records
tfc's decoded latents (sha256) and `tfcomp decompress`'s image, and times the TF decode; then a worker in
a virtual environment with only numpy, Pillow and ai-edge-litert (--python; it checks that importing
tensorflow fails there) decodes the same files with tfcdecode and times it. Models are interleaved this way
so both paths see the same machine load. Then the fuzz run: small files of every rate point, mutated
(payload bytes with the checksum made valid, truncated or spliced strings, header bytes, raw bytes), each
decoded in a worker process with a 5 s alarm; a worker that dies is counted as a crash and restarted.

    .venv/bin/python -m tfcomp.export.portable_check --python ../litert-venv/bin/python \
        [--models bls2017,slimcae,bmshj2018] [--fuzz 10000] [--out results/portable_decoder]

Run it from the repository (it imports tflite/tfcdecode.py from there). Writes OUT/summary.json and
OUT/summary.md; exports, files and reference images go to --work (OUT/work). The worker runs this module
under the other interpreter, with the repository on its PYTHONPATH: its module-level imports are NumPy's and
the standard library's only.
"""
from __future__ import annotations

import argparse
import collections
import hashlib
import json
import os
import random
import re
import signal
import struct
import subprocess
import sys
import time
import zlib

import numpy as np

from tfcomp import report
from tfcomp.errors import run_program

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROGRAM = "python -m tfcomp.export.portable_check"
DEFAULT_MODELS = "bls2017,slimcae,slimcae-ms-ssim,bmshj2018"
FUZZ_CROPS = ((64, 64), (80, 112))
HANG_SECONDS = 5
# Where in its quality range a variable-rate model codes each image (in turn): the ends and fractions between.
QUALITY_FRACTIONS = (0.0, 0.1937, 0.4521, 0.5, 0.6789, 0.9, 1.0)


# ---------------------------------------------------------------------------------------------------------
# The TF side (tfcomp's venv).


def rate_points(names: list[str]) -> list:
    """Every rate point of the named models or families (ladders expand to their rungs, slimmable models to
    their widths)."""
    from tfcomp import registry

    return [point for name in names for point in registry.codec_family(name)]


def _export_name(point) -> str:
    """The name of a rate point's exported files: one export serves every quality of a variable-rate model."""
    return point.model_name if point.quality is not None else point.name


def prepare(point, images: list[str], work: str) -> dict:
    """Exports the point, codes every image, records tfc's latents and `tfcomp decompress`'s image and times
    the TF decode (model loaded and warmed up, as the portable decoder's timing below)."""
    import tensorflow as tf
    from PIL import Image

    from tfcomp.data.images import read_image
    from tfcomp.export import tflite_export

    exports, folder = os.path.join(work, "exports"), os.path.join(work, "files", point.name)
    os.makedirs(folder, exist_ok=True)
    export_name = _export_name(point)
    if not os.path.exists(os.path.join(exports, f"{export_name}.json")):
        tflite_export.export(point.path, exports, point.width_index, ("float32",))
    entries = []
    for i, path in enumerate(images):
        image = read_image(path)[0]
        if point.quality is not None:  # a variable-rate model: fractions of its quality range, in turn
            low, high = point.quality_range
            point.set_quality(low + QUALITY_FRACTIONS[i % len(QUALITY_FRACTIONS)] * (high - low))
        data = point.encode(image)
        stem = os.path.splitext(os.path.basename(path))[0]
        with open(os.path.join(folder, stem + ".tfc"), "wb") as f:
            f.write(data)
        if i == 0:
            point.decode(data)  # warm-up (traces the tf.functions)
        start = time.perf_counter()
        decoded = point.decode(data)
        seconds = time.perf_counter() - start
        from tflite import tfcdecode

        c = tfcdecode.parse_container(data)
        y_hat = point.model.entropy_decode(tf.constant(c.strings), tf.constant(c.latent_shapes, tf.int32),
                                           *point._width()).numpy()
        Image.fromarray(decoded).save(os.path.join(folder, stem + ".png"))
        entries.append({"file": os.path.join(folder, stem + ".tfc"), "reference": os.path.join(folder, stem + ".png"),
                        "latents_sha256": hashlib.sha256(np.ascontiguousarray(y_hat, np.float32).tobytes()).hexdigest(),
                        "tf_seconds": seconds, "bytes": len(data), "quality": c.quality})
    fuzz = []
    for h, w in FUZZ_CROPS:
        for path in images[:2]:
            data = point.encode(read_image(path)[0][:h, :w])
            fuzz_path = os.path.join(folder, f"fuzz-{h}x{w}-{os.path.basename(path)}.tfc")
            with open(fuzz_path, "wb") as f:
                f.write(data)
            fuzz.append(fuzz_path)
    return {"point": point.name, "export": exports, "entries": entries, "fuzz_files": fuzz}


# ---------------------------------------------------------------------------------------------------------
# The portable side (a venv with numpy, Pillow and ai-edge-litert only): run as `--worker decode|fuzz`.


def worker_decode(job: dict) -> dict:
    """Decodes every file of a point with tfcdecode: latents compared with tfc's, pixels with the TF image."""
    from PIL import Image

    from tflite import tfcdecode

    results, model = [], None
    for i, entry in enumerate(job["entries"]):
        with open(entry["file"], "rb") as f:
            data = f.read()
        c = tfcdecode.parse_container(data)
        if model is None:
            model = tfcdecode.find_model(job["export"], c)
            tfcdecode.decode(data, job["export"], model=model)  # warm-up: the interpreter's first allocation
        start = time.perf_counter()
        image, _ = tfcdecode.decode(data, job["export"], model=model)
        seconds = time.perf_counter() - start
        start = time.perf_counter()
        y_hat, _ = model.latents(c)
        range_seconds = time.perf_counter() - start
        reference = np.asarray(Image.open(entry["reference"]).convert("RGB")).astype(int)
        results.append({"latents_identical": hashlib.sha256(y_hat.tobytes()).hexdigest() == entry["latents_sha256"],
                        "max_difference": int(np.abs(image.astype(int) - reference).max()),
                        "seconds": seconds, "latents_seconds": range_seconds})
    return {"results": results, "tensorflow_importable": _importable("tensorflow"),
            "runtime": _runtime()}


def _importable(module: str) -> bool:
    try:
        __import__(module)
        return True
    except ImportError:
        return False


def _runtime() -> str:
    try:
        import importlib.metadata

        return "ai-edge-litert " + importlib.metadata.version("ai-edge-litert")
    except Exception:  # noqa: BLE001  (reporting only)
        return "not ai-edge-litert"


def mutate(data: bytes, other: bytes, rng: random.Random) -> tuple[str, bytes]:
    """One corrupted version of a file: (kind, bytes). Most kinds keep the checksum valid, so the corruption
    reaches the range decoder and the networks."""
    from tflite import tfcdecode

    c = tfcdecode.parse_container(data)
    start = len(data) - 4 - sum(map(len, c.strings))  # first byte of the strings
    body = bytearray(data[:-4])
    kind = rng.choices(["payload", "payload-burst", "truncate-string", "splice", "header", "raw"],
                       [40, 15, 15, 10, 15, 5])[0]
    if kind == "payload":
        for _ in range(rng.randint(1, 8)):
            body[rng.randrange(start, len(body))] = rng.randrange(256)
    elif kind == "payload-burst":
        at = rng.randrange(start, len(body))
        end = min(len(body), at + rng.randint(1, 64))
        body[at:end] = bytes(rng.randrange(256) for _ in range(end - at))
    elif kind in ("truncate-string", "splice"):
        strings = list(c.strings)
        part = rng.randrange(len(strings))
        if kind == "truncate-string":
            strings[part] = strings[part][:rng.randrange(len(strings[part]) + 1)]
        else:
            theirs = tfcdecode.parse_container(other).strings
            cut = rng.randrange(len(strings[part]) + 1)
            strings[part] = strings[part][:cut] + theirs[part % len(theirs)][cut:]
        table = start - 8 * len(strings)
        body = body[:table] + b"".join(struct.pack(">HHI", h, w, len(s)) for (h, w), s in
                                       zip(c.latent_shapes, strings)) + b"".join(strings)
    elif kind == "header":
        at = rng.randrange(0, start)
        body[at] = rng.randrange(256)
    else:
        raw = bytearray(data)
        raw[rng.randrange(len(raw))] ^= 1 << rng.randrange(8)
        return kind, bytes(raw)
    return kind, bytes(body) + struct.pack(">I", zlib.crc32(bytes(body)))


class Hang(Exception):
    """A decode that ran past HANG_SECONDS."""


def worker_fuzz(job: dict) -> None:
    """Decodes mutated files from seed job['first'] on; one JSON line per input on stdout (flushed, so the
    parent knows which input a dying worker was at)."""
    from tflite import tfcdecode

    files = [open(p, "rb").read() for p in job["files"]]
    models: dict = {}

    def alarm(*_):
        raise Hang()

    signal.signal(signal.SIGALRM, alarm)
    for seed in range(job["first"], job["last"]):
        rng = random.Random(seed)
        index = rng.randrange(len(files))
        kind, data = mutate(files[index], files[index ^ 1], rng)
        key = tfcdecode.parse_container(files[index]).model, index // 4
        print(json.dumps({"seed": seed, "start": True}), flush=True)
        begin = time.perf_counter()
        signal.alarm(HANG_SECONDS)
        try:
            c = tfcdecode.parse_container(data)
            if key not in models:
                models[key] = tfcdecode.find_model(job["exports"][index], tfcdecode.parse_container(files[index]))
            model = models[key] if c.model == models[key].manifest["model"] and c.variant == (
                models[key].manifest.get("width_index") or 0) else None
            tfcdecode.decode(data, job["exports"][index], model=model)
            outcome, message = "decoded", ""
        except tfcdecode.DecodeError as error:
            outcome, message = "refused", str(error)
        except Hang:
            outcome, message = "hang", ""
        except Exception as error:  # noqa: BLE001  (what the fuzz run looks for)
            outcome, message = "crash", f"{type(error).__name__}: {error}"
        finally:
            signal.alarm(0)
        print(json.dumps({"seed": seed, "kind": kind, "outcome": outcome, "message": message,
                          "seconds": time.perf_counter() - begin}), flush=True)


def run_worker(python: str, mode: str, job: dict) -> subprocess.CompletedProcess:
    """Runs this module as a worker under another interpreter (the job as JSON on stdin)."""
    env = dict(os.environ, PYTHONPATH=REPO)  # that environment has no tfcomp installed: it reads this checkout
    return subprocess.run([python, "-m", "tfcomp.export.portable_check", "--worker", mode], input=json.dumps(job),
                          capture_output=True, text=True, cwd=REPO, env=env)


def message_class(message: str) -> str:
    """An error message with its particulars (names, numbers, paths) replaced, to count messages by kind."""
    message = re.sub(r"'[^']*'|\"[^\"]*\"", "NAME", message)
    message = re.sub(r"does not match \S+ \(", "does not match NAME (", message)
    return re.sub(r"\d+", "N", re.sub(r" in /\S+", "", message))


def fuzz(python: str, files: list[str], exports: list[str], count: int) -> dict:
    """count mutated inputs in workers of 500; a dead worker's input in flight counts as a crash."""
    outcomes, kinds, messages, seconds = collections.Counter(), collections.Counter(), collections.Counter(), []
    seed, crashes = 0, []
    while seed < count:
        job = {"files": files, "exports": exports, "first": seed, "last": min(count, seed + 500)}
        result = run_worker(python, "fuzz", job)
        last_started, done = None, set()
        for line in result.stdout.splitlines():
            record = json.loads(line)
            if record.get("start"):
                last_started = record["seed"]
                continue
            done.add(record["seed"])
            outcomes[record["outcome"]] += 1
            kinds[(record["kind"], record["outcome"])] += 1
            seconds.append(record["seconds"])
            if record["outcome"] == "refused":
                messages[message_class(record["message"])] += 1
            elif record["outcome"] != "decoded":
                crashes.append(record)
        if result.returncode != 0:
            outcomes["crash"] += 1
            crashes.append({"seed": last_started, "returncode": result.returncode, "stderr": result.stderr[-500:]})
            seed = (last_started if last_started is not None else seed) + 1
        else:
            seed = job["last"]
    return {"inputs": sum(outcomes.values()), "outcomes": dict(outcomes),
            "by_kind": {f"{k} -> {o}": n for (k, o), n in sorted(kinds.items())},
            "refusals": dict(messages.most_common()), "problems": crashes[:20],
            "seconds_per_input_median": float(np.median(seconds)) if seconds else None,
            "seconds_per_input_max": float(max(seconds)) if seconds else None}


# ---------------------------------------------------------------------------------------------------------


def measure(point, images: list[str], work: str, python: str) -> dict:
    """One rate point: the TF side here, then the portable side in the worker; the summary row and what the
    fuzz run needs."""
    exports = os.path.join(work, "exports")
    prefix = _export_name(point) + "."
    for stale in (f for f in os.listdir(exports) if f.startswith(prefix)) if os.path.isdir(exports) else ():
        os.remove(os.path.join(exports, stale))  # exported by an earlier run, maybe from other weights
    job = prepare(point, images, work)
    result = run_worker(python, "decode", job)
    if result.returncode != 0:
        raise SystemExit(f"{point.name}: portable worker failed:\n{result.stderr}")
    decoded = json.loads(result.stdout)
    rows = decoded["results"]
    qualities = sorted({f"{e['quality']:g}" for e in job["entries"] if e["quality"] is not None}, key=float)
    row = {"point": job["point"] if not qualities else f"{point.model_name} (qualities {', '.join(qualities)})",
           "model": point.model_name, "files": len(rows),
           "latents_identical": sum(r["latents_identical"] for r in rows),
           "max_difference": max(r["max_difference"] for r in rows),
           "tf_ms": 1000 * float(np.mean([e["tf_seconds"] for e in job["entries"]])),
           "portable_ms": 1000 * float(np.mean([r["seconds"] for r in rows])),
           "latents_ms": 1000 * float(np.mean([r["latents_seconds"] for r in rows])),
           "bpp": float(np.mean([8 * e["bytes"] for e in job["entries"]])) / (512 * 768)}
    return {"row": row, "table_sha256": point.metadata["entropy_table_sha256"], "fuzz_files": job["fuzz_files"],
            "export": job["export"], "tensorflow_importable": decoded["tensorflow_importable"],
            "runtime": decoded["runtime"]}


def markdown(summary: dict) -> str:
    """The Markdown summary."""
    lines = ["# Portable decoder check", "",
             f"Portable side: {summary['portable_python']} ({summary['runtime']}; importing tensorflow there "
             f"{'works' if summary['tensorflow_importable'] else 'fails'}). {summary['images']} Kodak images per "
             "rate point. Times are per image, model loaded and warmed up, 2 cores shared with other work.", "",
             "| rate point | files | latents identical | max pixel difference | TF decode (ms) | "
             "portable decode (ms) | of which range decoding + parameter networks (ms) |",
             "|---|---|---|---|---|---|---|"]
    for row in summary["points"]:
        lines.append(f"| {row['point']} | {row['files']} | {row['latents_identical']}/{row['files']} | "
                     f"{row['max_difference']} | {row['tf_ms']:.0f} | {row['portable_ms']:.0f} | "
                     f"{row['latents_ms']:.0f} |")
    if summary.get("fuzz"):
        f = summary["fuzz"]
        lines += ["", f"## Fuzz run: {f['inputs']} inputs in {f['wall_seconds']:.0f} s", "",
                  "Small files (64x64 and 80x112 crops of two Kodak images) of every rate point above, mutated. "
                  "Every kind but `raw` recomputes the checksum, so the corruption reaches the range decoder and "
                  "the networks; there, a corrupt string that passes tfc's end-of-string check decodes to an "
                  "image, as it does with tfcomp decompress ('decoded'). A crash would be any other exception "
                  "or a dead worker, a hang a decode past the alarm.", "", "| outcome | inputs |", "|---|---|"]
        lines += [f"| {k} | {f['outcomes'].get(k, 0)} |" for k in ("decoded", "refused", "hang", "crash")]
        lines += ["", "| mutation -> outcome | inputs |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in f["by_kind"].items()]
        lines += ["", "| error message | inputs |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in f["refusals"].items()]
        lines += ["", f"Median {1000 * f['seconds_per_input_median']:.0f} ms per input, longest "
                      f"{1000 * f['seconds_per_input_max']:.0f} ms (alarm at {HANG_SECONDS} s)."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", choices=("decode", "fuzz"), help=argparse.SUPPRESS)
    parser.add_argument("--python", help="interpreter of a venv with numpy, Pillow and ai-edge-litert only")
    parser.add_argument("--models", default=DEFAULT_MODELS, help=f"models or families (default: {DEFAULT_MODELS})")
    parser.add_argument("--images", default=os.path.join("..", "shared", "datasets", "kodak"))
    parser.add_argument("--limit", type=int, default=24, help="images per rate point (default: 24)")
    parser.add_argument("--fuzz", type=int, default=10000, help="fuzzed inputs (default: 10000; 0: none)")
    parser.add_argument("--out", default=os.path.join("results", "portable_decoder"))
    parser.add_argument("--work", help="exports, coded files and reference images (default: OUT/work)")
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    if args.worker == "decode":
        print(json.dumps(worker_decode(json.load(sys.stdin))))
        return 0
    if args.worker == "fuzz":
        worker_fuzz(json.load(sys.stdin))
        return 0
    if not args.python:
        parser.error("--python is required")
    images = sorted(os.path.join(args.images, f) for f in os.listdir(args.images) if f.endswith(".png"))[:args.limit]
    work = args.work or os.path.join(args.out, "work")
    summary = {"date": time.strftime("%Y-%m-%d"), "portable_python": report.relative(args.python),
               "images": len(images),
               "points": []}
    fuzz_files, fuzz_exports = [], []
    os.makedirs(os.path.join(work, "points"), exist_ok=True)
    for point in rate_points(args.models.split(",")):
        if point.quality is not None and summary["points"] and summary["points"][-1]["model"] == point.model_name:
            continue  # a variable-rate model: one export, its files at several qualities
        # A finished rate point is kept (a rerun resumes) while the model's table hash is the same.
        record = os.path.join(work, "points", point.name + ".json")
        done = json.load(open(record)) if os.path.exists(record) else {}
        if done.get("table_sha256") != point.metadata["entropy_table_sha256"]:
            started = time.time()
            done = measure(point, images, work, args.python)
            with open(record, "w") as f:
                json.dump(done, f)
            print(f"{done['row']} ({time.time() - started:.0f} s)", flush=True)
        summary.update(tensorflow_importable=done["tensorflow_importable"], runtime=done["runtime"])
        summary["points"].append(done["row"])
        fuzz_files += done["fuzz_files"]
        fuzz_exports += [done["export"]] * len(done["fuzz_files"])
    if args.fuzz:
        started = time.time()
        summary["fuzz"] = fuzz(args.python, fuzz_files, fuzz_exports, args.fuzz)
        summary["fuzz"]["wall_seconds"] = time.time() - started
    report.write_results(args.out, "summary", summary, markdown(summary), report.command_line(PROGRAM, argv))
    print(markdown(summary))
    return 0


if __name__ == "__main__":
    run_program(main)
