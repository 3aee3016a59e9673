"""Classic Pillow codecs behind the Codec interface."""
import pytest

from conftest import smooth_image
from tfcomp import registry
from tfcomp.codecs.classic import PillowCodec
from tfcomp.evaluation import metrics


@pytest.mark.parametrize("family", registry.CLASSIC_FAMILIES)
def test_round_trip_and_rate_grows_with_quality(family):
    assert PillowCodec.available(family)
    image = smooth_image(128, 160)
    codecs = PillowCodec.sweep(family)
    low, high = codecs[1], codecs[-2]
    small, large = low.encode(image), high.encode(image)
    assert len(small) < len(large)
    assert low.decode(small).shape == image.shape
    assert metrics.psnr(image, high.decode(large)) > metrics.psnr(image, low.decode(small))


def test_jpeg2000_rate_control_hits_the_target():
    image = smooth_image(256, 256)
    data = PillowCodec("jpeg2000", 24).encode(image)  # ratio 24 of 24 bpp -> 1 bpp
    assert 0.8 < metrics.bits_per_pixel(len(data), 256, 256) <= 1.05


def test_registry_names_round_trip():
    for codec in PillowCodec.sweep("jpeg")[:3] + PillowCodec.sweep("jpeg2000")[:2]:
        assert registry.codec(codec.name).name == codec.name
