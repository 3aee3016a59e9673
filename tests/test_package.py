"""tfcomp as an installed package: a wheel installed into a fresh virtual environment outside the checkout has
its shipped models and round-trips an image from another folder."""
import json
import os
import shutil
import subprocess
import sys
import sysconfig

import numpy as np
import pytest
from PIL import Image

from conftest import REPO, smooth_image

# What a wheel is built from (tests, results, runs and the virtual environment stay behind).
SOURCES = ("setup.py", "setup.cfg", "pyproject.toml", "README.md", "tfcomp", "saved_models")


def _run(*args, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(args, capture_output=True, text=True, timeout=1800, **kwargs)
    assert result.returncode == 0, f"{args} failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
    return result


@pytest.mark.slow
def test_wheel_installs_and_round_trips_outside_the_checkout(tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    for name in SOURCES:
        path = os.path.join(REPO, name)
        if os.path.isdir(path):
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.saving", "*.tmp"))
        else:
            shutil.copy(path, source / name)
    # No build isolation: the build uses this environment's setuptools instead of downloading one.
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--wheel-dir",
         str(tmp_path / "dist"), str(source))
    (wheel,) = (tmp_path / "dist").glob("tfcomp-*.whl")
    assert wheel.stat().st_size > 20e6  # the shipped models are in it

    # A fresh environment that sees this one's packages (TensorFlow is not downloaded again) but not its tfcomp:
    # a .pth line only adds the folder to sys.path, so the editable install's own .pth hook stays inactive.
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", str(venv))
    python = venv / "bin" / "python"
    site_packages = _run(str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip()
    with open(os.path.join(site_packages, "project_packages.pth"), "w") as f:
        f.write(sysconfig.get_paths()["purelib"] + "\n")
    _run(sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", str(wheel))

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    Image.fromarray(smooth_image(96, 128, seed=2)).save(elsewhere / "photo.png")
    env = {k: v for k, v in os.environ.items() if k not in ("TFCOMP_MODELS", "PYTHONPATH")}
    tfcomp = str(venv / "bin" / "tfcomp")
    where = _run(str(python), "-c", "import tfcomp, tfcomp.zoo as z; print(tfcomp.__file__); print(z.models_dir())",
                 cwd=elsewhere, env=env).stdout.split()
    assert where[0].startswith(site_packages) and where[1] == os.path.join(str(venv), "share", "tfcomp", "saved_models")
    assert "bls2017-mse-2" in _run(tfcomp, "zoo", cwd=elsewhere, env=env).stdout
    compressed = _run(tfcomp, "compress", "photo.png", cwd=elsewhere, env=env)
    _run(tfcomp, "decompress", "photo.tfc", cwd=elsewhere, env=env)
    decoded = np.asarray(Image.open(elsewhere / "photo.tfc.png"))
    with open(os.path.join(REPO, "saved_models", "zoo.json")) as f:
        default = json.load(f)["default"]
    assert decoded.shape == (96, 128, 3) and f"model {default}" in compressed.stdout
    refused = subprocess.run([tfcomp, "compress", "-m", "resae-small-int8", "photo.png", "r.tfc"], cwd=elsewhere,
                             env=env, capture_output=True, text=True, timeout=600)
    lines = refused.stderr.strip().splitlines()
    assert refused.returncode == 2 and len(lines) == 1 and "tfcomp train -a resae" in lines[0], refused.stderr
