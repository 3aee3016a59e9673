"""Where the Kodak test images are, and a TFDS builder for them."""
from __future__ import annotations

import sys

from tfcomp.data.images import list_images
from tfcomp.data.locations import dataset_dir
from tfcomp.errors import TfcompError

KODAK_ENV = "TFCOMP_KODAK"
KODAK_URL = "http://r0k.us/graphics/kodak/kodak/kodim{:02d}.png"


def kodak_dir() -> str:
    """$TFCOMP_KODAK, else ../shared/datasets/kodak beside the repository."""
    return dataset_dir(KODAK_ENV, "kodak")


def kodak_images(limit: int | None = None) -> list[str]:
    """Sorted paths of the Kodak PNGs (the first `limit` of them)."""
    return list_images(kodak_dir())[:limit]


def kodak_images_or_exit(limit: int | None, program: str) -> list[str]:
    """kodak_images(limit) for a measurement program, or exit 2 with one line when Kodak is not there."""
    try:
        return kodak_images(limit)
    except TfcompError:
        print(f"{program}: no Kodak images at {kodak_dir()} (set ${KODAK_ENV})", file=sys.stderr)
        raise SystemExit(2) from None
