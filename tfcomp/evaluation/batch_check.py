"""A folder of 50 photographs (Kodak's 24 and 26 of BSDS500's validation set): seconds per image compressed by one
`tfcomp compress` call per file against one batch call (with --jobs 1 and 2), in the same run; then a batch killed
midway (SIGKILL) and restarted, which must finish with every output complete and equal to the uninterrupted
batch's.

    nice -n 15 .venv/bin/python -m tfcomp.evaluation.batch_check [--model bls2017-mse-2] [--out results/reliability]
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import time


from tfcomp import report
from tfcomp.codecs import container
from tfcomp.data.images import list_images
from tfcomp.errors import TfcompError, run_program

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
PROGRAM = "python -m tfcomp.evaluation.batch_check"


def tfcomp(*args: str) -> float:
    """Seconds one CLI call takes."""
    start = time.time()
    subprocess.run([sys.executable, "-m", "tfcomp", *args], check=True, env=ENV, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.time() - start


def outputs(folder: str) -> dict[str, bytes]:
    """Every .tfc file under a folder, by relative path."""
    found = {}
    for path in glob.glob(os.path.join(folder, "**", "*.tfc"), recursive=True):
        with open(path, "rb") as f:
            found[os.path.relpath(path, folder)] = f.read()
    return found


def main(argv: list[str] | None = None) -> int:
    """Times both ways, kills and restarts a batch, writes batch.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="bls2017-mse-2")
    parser.add_argument("--kodak", default="../shared/datasets/kodak")
    parser.add_argument("--bsds", default="../shared/datasets/bsds500/val")
    parser.add_argument("--work", default="/tmp/tfcomp-batch")
    parser.add_argument("--out", default="results/reliability")
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    wanted = {args.kodak: 24, args.bsds: 26}
    sources = {source: list_images(source)[:count] for source, count in wanted.items()}
    for source, paths in sources.items():  # checked before the work folder is cleared
        if len(paths) < wanted[source]:
            raise TfcompError(f"{source} has {len(paths)} images; the check takes {wanted[source]} from it")
    shutil.rmtree(args.work, ignore_errors=True)
    photos = os.path.join(args.work, "photos")
    for source, paths in sources.items():
        folder = os.path.join(photos, os.path.basename(os.path.normpath(source)))
        os.makedirs(folder)
        for path in paths:
            shutil.copy(path, folder)
    inputs = sorted(glob.glob(os.path.join(photos, "*", "*")))

    single = sum(tfcomp("compress", "-m", args.model, path, os.path.join(args.work, "single-" +
                                                                          os.path.basename(path) + ".tfc"))
                 for path in inputs)
    batch = {jobs: tfcomp("compress", "-m", args.model, "-j", str(jobs), photos, "-o",
                          os.path.join(args.work, f"batch-j{jobs}")) for jobs in (1, 2)}
    reference = outputs(os.path.join(args.work, "batch-j1"))

    killed_dir = os.path.join(args.work, "killed")
    process = subprocess.Popen([sys.executable, "-m", "tfcomp", "compress", "-m", args.model, photos, "-o",
                                killed_dir], env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while len(outputs(killed_dir)) < 20 and process.poll() is None:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done_when_killed = len(outputs(killed_dir))
    leftovers = [p for p in glob.glob(os.path.join(killed_dir, "**", ".*.part"), recursive=True)]
    restart = subprocess.run([sys.executable, "-m", "tfcomp", "compress", "-m", args.model, photos, "-o",
                              killed_dir], env=ENV, capture_output=True, text=True)
    finished = outputs(killed_dir)
    for data in finished.values():
        container.unpack(data)  # raises on a partial or corrupt file
    record = {
        "model": args.model, "images": len(inputs),
        "seconds_per_image": {"single-file calls": round(single / len(inputs), 2),
                              **{f"batch --jobs {j}": round(s / len(inputs), 2) for j, s in batch.items()}},
        "killed_restarted": {"outputs_when_killed": done_when_killed,
                             "temporary_files_left_by_the_kill": len(leftovers),
                             "restart_exit_status": restart.returncode, "restart_summary": restart.stderr.strip(),
                             "outputs_after_restart": len(finished),
                             "all_complete_and_equal_to_uninterrupted_batch": finished == reference},
    }
    report.write_record(os.path.join(args.out, "batch.json"), record, report.command_line(PROGRAM, argv))
    print(json.dumps(record, indent=1))
    return 0


if __name__ == "__main__":
    run_program(main)
