"""Packaging beyond setup.cfg: the shipped models in saved_models/ are installed as data files under
PREFIX/share/tfcomp/saved_models, where tfcomp.zoo.models_dir() finds them outside a checkout."""
import os

from setuptools import setup

MODELS = "saved_models"


def model_files() -> list[tuple[str, list[str]]]:
    """(install folder, files) for every folder of saved_models/, SavedModel subfolders included."""
    found = []
    for folder, dirs, files in os.walk(MODELS):
        dirs.sort()
        if files:
            found.append((os.path.join("share", "tfcomp", folder), [os.path.join(folder, f) for f in sorted(files)]))
    return found


setup(data_files=model_files())
