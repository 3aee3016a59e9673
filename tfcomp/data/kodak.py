"""Where the Kodak test images are, and a TFDS builder for them."""
from __future__ import annotations

from tfcomp.data.images import list_images
from tfcomp.data.locations import dataset_dir
from tfcomp.errors import TfcompError

KODAK_ENV = "TFCOMP_KODAK"
KODAK_URL = "http://r0k.us/graphics/kodak/kodak/kodim{:02d}.png"


def kodak_dir() -> str:
    """$TFCOMP_KODAK, else ../shared/datasets/kodak beside the repository."""
    return dataset_dir(KODAK_ENV, "kodak")


def kodak_images(limit: int | None = None) -> list[str]:
    """Sorted paths of the Kodak PNGs (the first `limit` of them); a TfcompError naming the folder and the
    variable that moves it when there are none."""
    try:
        return list_images(kodak_dir())[:limit]
    except TfcompError:
        raise TfcompError(f"no Kodak images at {kodak_dir()} (set ${KODAK_ENV})") from None
