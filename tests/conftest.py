"""Shared fixtures: generated images, a tiny model ladder trained once per test session, a process that runs
many CLI commands; the `slow` marker and how tests are spread over pytest-xdist workers."""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np
import pytest
from PIL import Image

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KODAK = os.environ.get("TFCOMP_KODAK", os.path.join(REPO, "..", "shared", "datasets", "kodak"))
TINY = "bls2017-tiny"
TINY_HIGH = "bls2017-tiny-high"  # a second rung of the same ladder, trained for more bits

# Fixtures that train models or convert them to TFLite in every mode: every test that uses one is slow
# (`make test-fast` leaves them out).
SLOW_FIXTURES = {"tiny_runs", "tiny_zoo", "slimcae_tiny", "vr_zoo", "exported"}
# Session fixtures built in-process by each xdist worker that uses them: their tests share one worker.
WORKER_FIXTURES = ("slimcae_tiny",)


def pytest_collection_modifyitems(config, items):
    """Marks tests that need a trained model slow, and keeps the tests that share an expensive fixture on one
    xdist worker (`--dist loadgroup`): those of WORKER_FIXTURES, and those of a file's module-scoped fixtures
    (one group per file). The other tests are spread over the workers one by one, so that long training tests
    balance the load instead of queueing behind each other in one file."""
    for item in items:
        if SLOW_FIXTURES & set(item.fixturenames):
            item.add_marker(pytest.mark.slow)
        if item.get_closest_marker("xdist_group"):
            continue
        definitions = getattr(item, "_fixtureinfo", None)
        scopes = {d.scope for defs in (definitions.name2fixturedefs.values() if definitions else ()) for d in defs}
        shared = [name for name in WORKER_FIXTURES if name in item.fixturenames]
        if shared:
            item.add_marker(pytest.mark.xdist_group(shared[0]))
        elif {"module", "class", "package"} & scopes:
            item.add_marker(pytest.mark.xdist_group(item.module.__name__))


def smooth_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A natural-looking test image: smooth colour gradients, an edge and mild noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width] / max(height, width)
    channels = [np.sin(6 * xx + c) * np.cos(4 * yy - c) for c in (0.0, 1.0, 2.0)]
    image = 127 + 90 * np.stack(channels, -1)
    image[height // 3: height // 2, width // 4: width // 2] += 40
    image += rng.normal(0, 4, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def run_tfcomp(*args: str, env: dict | None = None, check: bool = False) -> subprocess.CompletedProcess:
    """Runs the CLI in a fresh Python process: for what crosses a process boundary (a file written by one
    process and read by another, a killed run, start-up state). The `cli` fixture runs the other commands."""
    result = subprocess.run([sys.executable, "-m", "tfcomp", *args], capture_output=True, text=True,
                            env={**os.environ, **(env or {})}, cwd=REPO)
    if check and result.returncode != 0:
        raise AssertionError(f"tfcomp {' '.join(args)} failed:\n{result.stderr}")
    return result


def kill_training_after(args: list[str], workdir, steps: int, timeout: float) -> int:
    """Starts `tfcomp train ARGS` in a fresh process, kills it (SIGKILL) once its progress.json records at least
    `steps` steps or after `timeout` seconds, and returns the steps recorded then."""
    process = subprocess.Popen([sys.executable, "-m", "tfcomp", *args], cwd=REPO, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    progress = os.path.join(str(workdir), "progress.json")

    def recorded() -> int:
        with open(progress) as f:
            return json.load(f)["steps"]

    deadline = time.time() + timeout
    while time.time() < deadline and not (os.path.exists(progress) and recorded() >= steps):
        time.sleep(0.5)
    process.send_signal(signal.SIGKILL)
    process.wait()
    return recorded()


# The command loop of CliProcess. Each request runs with its own argv, environment and working directory; file
# descriptors 1 and 2 point at fresh files for it, so TensorFlow's C++ output is captured as a process's would be;
# Python warnings are shown again and logger levels that a command changed are put back (as in a fresh process);
# SystemExit and uncaught exceptions end the command, not the loop, with the exit status `python -m tfcomp`
# would have had.
_CLI_LOOP = r"""
import json, logging, os, runpy, sys, tempfile, traceback, warnings
requests, replies = os.fdopen(int(sys.argv[1]), "r"), os.fdopen(int(sys.argv[2]), "w")
levels = {}
for line in requests:
    request = json.loads(line)
    loggers = [logging.getLogger()] + [l for l in logging.root.manager.loggerDict.values() if isinstance(l, logging.Logger)]
    for logger in loggers:
        logger.setLevel(levels.get(logger.name, logger.level))
    levels = {logger.name: logger.level for logger in loggers}
    out, err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
    sys.stdout.flush(); sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    os.dup2(out.fileno(), 1); os.dup2(err.fileno(), 2)
    os.environ.clear(); os.environ.update(request["env"])
    os.chdir(request["cwd"])
    warnings._filters_mutated()
    argv = sys.argv
    try:
        if request["script"]:
            sys.argv = [request["script"], *request["args"]]
            runpy.run_path(request["script"], run_name="__main__")
            code = 0
        else:
            sys.argv = ["tfcomp", *request["args"]]
            from tfcomp.cli.main import main
            code = main(request["args"])
    except SystemExit as exit:
        code = exit.code
    except BaseException:
        traceback.print_exc()
        code = 1
    if code is None:
        code = 0
    elif not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    sys.argv = argv
    sys.stdout.flush(); sys.stderr.flush()
    os.dup2(saved[0], 1); os.dup2(saved[1], 2)
    os.close(saved[0]); os.close(saved[1])
    texts = []
    for f in (out, err):
        f.seek(0)
        texts.append(f.read().decode("utf-8", "replace"))
        f.close()
    replies.write(json.dumps({"returncode": code, "stdout": texts[0], "stderr": texts[1]}) + "\n")
    replies.flush()
"""


class CliProcess:
    """One Python process that runs `tfcomp` commands (and scripts) one after another, each as a fresh
    `python -m tfcomp` would: its own arguments, environment and working directory; its exit status, stdout and
    stderr (TensorFlow's C++ output included). Only the import of TensorFlow and models already loaded are
    shared, which saves seconds per command. For tests of what a command does; what crosses a process boundary
    stays with run_tfcomp. Started on first use, restarted if a command kills it."""

    TIMEOUT_S = 900

    def __init__(self):
        self.process = None

    def _start(self) -> None:
        requests_read, self._requests = os.pipe()
        self._replies, replies_write = os.pipe()
        self._log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            [sys.executable, "-c", _CLI_LOOP, str(requests_read), str(replies_write)], cwd=REPO,
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log, pass_fds=(requests_read, replies_write))
        os.close(requests_read)
        os.close(replies_write)
        self._buffer = b""

    def _request(self, script: str | None, args: tuple[str, ...], env: dict | None) -> subprocess.CompletedProcess:
        if self.process is None or self.process.poll() is not None:
            self._start()
        request = dict(script=script, args=[str(a) for a in args], env={**os.environ, **(env or {})}, cwd=REPO)
        os.write(self._requests, (json.dumps(request) + "\n").encode())
        while b"\n" not in self._buffer:
            ready, _, _ = select.select([self._replies], [], [], self.TIMEOUT_S)
            chunk = os.read(self._replies, 1 << 20) if ready else b""
            if not chunk:
                self.close()
                self._log.seek(0)
                log = self._log.read().decode("utf-8", "replace")[-3000:]
                raise AssertionError(f"the CLI process died or hung running {args}:\n{log}")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        reply = json.loads(line)
        command = [script] if script else ["tfcomp"]
        return subprocess.CompletedProcess(command + list(request["args"]), reply["returncode"], reply["stdout"],
                                           reply["stderr"])

    def run(self, *args: str, env: dict | None = None, check: bool = False) -> subprocess.CompletedProcess:
        """`tfcomp ARGS` with os.environ updated by env, like run_tfcomp."""
        result = self._request(None, args, env)
        if check and result.returncode != 0:
            raise AssertionError(f"tfcomp {' '.join(map(str, args))} failed:\n{result.stderr}")
        return result

    def script(self, path: str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
        """`python PATH ARGS` (run as __main__)."""
        return self._request(os.path.join(REPO, path), args, env)

    def close(self) -> None:
        if self.process is not None:
            with contextlib.suppress(OSError):
                os.close(self._requests)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=30)
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            os.close(self._replies)
            self.process = None


@pytest.fixture(scope="session")
def cli():
    """A CliProcess for this test session (one per xdist worker)."""
    process = CliProcess()
    yield process
    process.close()


@pytest.fixture(scope="session")
def image_folder(tmp_path_factory) -> str:
    """Eight generated 96x128 PNG training images."""
    folder = tmp_path_factory.mktemp("images")
    for i in range(8):
        Image.fromarray(smooth_image(96, 128, seed=i)).save(folder / f"img{i}.png")
    return str(folder)


@contextlib.contextmanager
def built_once(tmp_path_factory, name: str):
    """(folder, build) for a folder shared by the xdist workers of this session: build is True for the first
    worker that asks, which makes what `name` stands for while the others wait for it, False after that."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # the session's folder, above each worker's own
    done = base / f"{name}.done"
    with open(base / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield base, not done.exists()
        done.touch()


@pytest.fixture(scope="session")
def tiny_runs(tmp_path_factory, image_folder) -> str:
    """A zoo folder with a two-rung bls2017 ladder (N=8, 20 steps each; the first is the default) and the runs'
    work folders (weights/latest is a checkpoint with optimizer state): `root/zoo`, `root/work-NAME`. Trained
    once per session: with two xdist workers, one rung each at the same time."""
    rungs = [(TINY, "0.01"), (TINY_HIGH, "1.0")]
    if os.environ.get("PYTEST_XDIST_WORKER", "gw0") != "gw0":
        rungs.reverse()
    for name, lmbda in rungs:
        with built_once(tmp_path_factory, name) as (base, build):
            root = base / "tiny_zoo"
            if build:
                run_tfcomp("train", "--lambda", lmbda, "-N", "8", "--train-data", image_folder, "--no-downsample",
                           "--patch", "64", "--batch", "2", "--steps", "20", "--steps-per-epoch", "10", "--lr",
                           "1e-3", "--workdir", str(root / f"work-{name}"), str(root / "zoo" / name), check=True)
    index = root / "zoo" / "zoo.json"
    with built_once(tmp_path_factory, "zoo.json") as (_, build):
        if build:
            index.write_text(json.dumps({"default": TINY, "architecture_defaults": {"bls2017": TINY}}))
    return str(root)


@pytest.fixture(scope="session")
def tiny_zoo(tiny_runs) -> str:
    """The tiny ladder's zoo folder (see tiny_runs)."""
    return os.path.join(tiny_runs, "zoo")


@pytest.fixture()
def zoo_env(tiny_zoo, monkeypatch) -> dict:
    """Points this process and CLI subprocesses at the tiny zoo."""
    monkeypatch.setenv("TFCOMP_MODELS", tiny_zoo)
    from tfcomp import zoo

    zoo._index.cache_clear()
    return {"TFCOMP_MODELS": tiny_zoo}


SLIMCAE_WIDTHS = (8, 6, 4)
SLIMCAE_LAMBDAS = (0.02, 0.01, 0.005)


@pytest.fixture(scope="session")
def slimcae_tiny(tmp_path_factory):
    """A tiny SlimCAE trained jointly for a few steps on random 64x64 crops (`model`), then saved as the
    trainer saves models, which enables coding (`path`, `metadata`): about two minutes, once per worker that
    runs its tests (they share one, see WORKER_FIXTURES)."""
    import types

    import tensorflow as tf

    from tfcomp.models.slimcae import SlimCAE
    from tfcomp.training.saving import save_model

    tf.keras.utils.set_random_seed(1)
    model = SlimCAE(lambdas=SLIMCAE_LAMBDAS, widths=SLIMCAE_WIDTHS)
    model.compile(optimizer=tf.keras.optimizers.Adam(1e-3))
    crops = tf.random.uniform((4, 64, 64, 3), 0, 255)
    logs = model.fit(tf.data.Dataset.from_tensor_slices(crops).batch(2), epochs=1, verbose=0).history
    assert set(logs) == {"loss", "bpp", "mse"} and np.isfinite(logs["loss"][0])
    path = str(tmp_path_factory.mktemp("zoo") / "slimcae-tiny")
    record = {"steps": 2, "wall_time_s": 1.0, "workdir": "in-test", "data": "random 64x64 crops", "device": "CPU"}
    metadata = save_model(model, path, record)
    return types.SimpleNamespace(model=model, path=path, metadata=metadata)
