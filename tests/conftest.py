"""Shared fixtures: generated images and a tiny model trained for a few steps in a private zoo."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KODAK = os.environ.get("TFCOMP_KODAK", os.path.join(REPO, "..", "shared", "datasets", "kodak"))
TINY = "bls2017-tiny"
TINY_HIGH = "bls2017-tiny-high"  # a second rung of the same ladder, trained for more bits


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
    """Runs the CLI in a separate Python process."""
    result = subprocess.run([sys.executable, "-m", "tfcomp", *args], capture_output=True, text=True,
                            env={**os.environ, **(env or {})}, cwd=REPO)
    if check and result.returncode != 0:
        raise AssertionError(f"tfcomp {' '.join(args)} failed:\n{result.stderr}")
    return result


@pytest.fixture(scope="session")
def image_folder(tmp_path_factory) -> str:
    """Eight generated 96x128 PNG training images."""
    folder = tmp_path_factory.mktemp("images")
    for i in range(8):
        Image.fromarray(smooth_image(96, 128, seed=i)).save(folder / f"img{i}.png")
    return str(folder)


@pytest.fixture(scope="session")
def tiny_zoo(tmp_path_factory, image_folder) -> str:
    """A zoo folder with a two-rung bls2017 ladder (N=8, 20 steps each); the first is the default."""
    root = tmp_path_factory.mktemp("zoo")
    for name, lmbda in ((TINY, "0.01"), (TINY_HIGH, "1.0")):
        run_tfcomp("train", "--lambda", lmbda, "-N", "8", "--train-data", image_folder, "--no-downsample",
                   "--patch", "64", "--batch", "2", "--steps", "20", "--steps-per-epoch", "10", "--lr", "1e-3",
                   "--workdir", str(tmp_path_factory.mktemp("work")), str(root / name), check=True)
    (root / "zoo.json").write_text(json.dumps({"default": TINY, "architecture_defaults": {"bls2017": TINY}}))
    return str(root)


@pytest.fixture()
def zoo_env(tiny_zoo, monkeypatch) -> dict:
    """Points this process and CLI subprocesses at the tiny zoo."""
    monkeypatch.setenv("TFCOMP_MODELS", tiny_zoo)
    from tfcomp import zoo

    zoo._index.cache_clear()
    return {"TFCOMP_MODELS": tiny_zoo}
