"""Many inputs in one process: files, folders and globs become jobs with their outputs (beside the inputs, or
under an output folder that mirrors their tree), run on worker threads that share the loaded models, with a
progress bar. Existing complete outputs are skipped, so a killed batch restarted finishes the rest; failures
are collected and reported at the end without stopping the batch."""
from __future__ import annotations

import concurrent.futures
import dataclasses
import glob
import os
import sys
from typing import Callable

from tqdm import tqdm

from tfcomp.errors import TfcompError


@dataclasses.dataclass(frozen=True)
class Job:
    """One input file and the output it makes."""

    input: str
    output: str


def _glob_root(pattern: str) -> str:
    """The folder a glob's matches are relative to: its path up to the first wildcard."""
    parts = pattern.split(os.sep)
    fixed = parts[:next(i for i, part in enumerate(parts) if glob.has_magic(part))]
    return os.sep.join(fixed) or ("/" if pattern.startswith(os.sep) else ".")


def expand(arguments: list[str], suffixes: tuple[str, ...]) -> list[tuple[str, str]]:
    """(file, root) for every input, in order and without repeats: a file as given (root: its folder), the
    files with one of `suffixes` anywhere under a folder (root: the folder), a glob's matching files (root: its
    folder up to the first wildcard; ** matches any depth). Hidden files and folders are left out."""
    found: dict[str, str] = {}
    for argument in arguments:
        if glob.has_magic(argument):
            matches = sorted(m for m in glob.glob(argument, recursive=True) if os.path.isfile(m))
            if not matches:
                raise TfcompError(f"{argument}: no files match")
            for match in matches:
                found.setdefault(match, _glob_root(argument))
        elif os.path.isdir(argument):
            for folder, dirs, files in os.walk(argument):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    if not name.startswith(".") and name.lower().endswith(suffixes):
                        found.setdefault(os.path.join(folder, name), argument)
        else:
            found.setdefault(argument, os.path.dirname(argument))
    return list(found.items())


def jobs(inputs: list[tuple[str, str]], output_name: Callable[[str], str], out_dir: str | None) -> list[Job]:
    """Each input's job: output_name(input) beside it, or at the same place relative to its root under out_dir."""
    made = [Job(path, output_name(path) if out_dir is None else
                os.path.join(out_dir, os.path.relpath(output_name(path), root or ".")))
            for path, root in inputs]
    seen: dict[str, str] = {}
    for job in made:
        other = seen.setdefault(os.path.abspath(job.output), job.input)
        if other != job.input:
            raise TfcompError(f"{other} and {job.input} would both write {job.output}")
    return made


@dataclasses.dataclass
class Outcome:
    """What a batch did: outputs written, complete outputs skipped, and (input, message) per failure."""

    written: int = 0
    skipped: int = 0
    failures: list[tuple[str, str]] = dataclasses.field(default_factory=list)


def run(batch: list[Job], work: Callable[[Job], str], complete: Callable[[str], bool], force: bool = False,
        workers: int = 1) -> Outcome:
    """Runs work(job) (which writes job.output atomically and returns a line to print) for every job, on
    `workers` threads, with a progress bar when there are several jobs and stderr is a terminal."""
    outcome = Outcome()
    bar = tqdm(total=len(batch), unit="file", file=sys.stderr, disable=True if len(batch) < 2 else None,
               dynamic_ncols=True)

    def one(job: Job) -> str | None:
        if os.path.exists(job.output) and not force:
            if complete(job.output):
                return None
            raise TfcompError(f"{job.output}: exists and is not a complete output (use --force to overwrite)")
        os.makedirs(os.path.dirname(os.path.abspath(job.output)), exist_ok=True)
        return work(job)

    def record(job: Job, call: Callable[[], str | None]) -> None:
        try:
            line = call()
        except TfcompError as error:
            outcome.failures.append((job.input, str(error)))
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as error:  # one bad file must not stop the others; it is reported with the rest
            outcome.failures.append((job.input, f"internal error ({type(error).__name__}: {error})"))
        else:
            if line is None:
                outcome.skipped += 1
            else:
                outcome.written += 1
                tqdm.write(line, file=sys.stdout)
        bar.update()

    try:
        if workers <= 1:
            for job in batch:
                record(job, lambda job=job: one(job))
        else:
            with concurrent.futures.ThreadPoolExecutor(workers) as pool:
                futures = {pool.submit(one, job): job for job in batch}
                try:
                    for future in concurrent.futures.as_completed(futures):
                        record(futures[future], future.result)
                except BaseException:
                    pool.shutdown(wait=True, cancel_futures=True)
                    raise
    finally:
        bar.close()
    return outcome


def report(outcome: Outcome, total: int) -> int:
    """Prints the failures (one line each) and a summary; the exit status: 0 if every file succeeded, else 2."""
    if total == 1 and outcome.failures:
        raise TfcompError(outcome.failures[0][1])  # a single file fails as it always has: one line
    for path, message in outcome.failures:
        print(f"tfcomp: error: {message if message.startswith(path) else f'{path}: {message}'}", file=sys.stderr)
    if total > 1 or outcome.skipped:
        print(f"tfcomp: {outcome.written} written, {outcome.skipped} skipped (complete outputs exist), "
              f"{len(outcome.failures)} failed, of {total}", file=sys.stderr)
    return 2 if outcome.failures else 0
