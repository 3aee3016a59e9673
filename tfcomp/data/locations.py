"""Where the shared datasets are: an environment variable, else ../shared/datasets beside the repository."""
from __future__ import annotations

import os

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def dataset_dir(env: str, *parts: str) -> str:
    """$env if set, else ../shared/datasets/<parts> beside the repository."""
    return os.environ.get(env, os.path.join(REPO, "..", "shared", "datasets", *parts))
