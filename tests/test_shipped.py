"""The shipped default model on real Kodak images, and the demo."""
import os

import numpy as np
import pytest
from PIL import Image

from conftest import KODAK

needs_kodak = pytest.mark.skipif(not os.path.isdir(KODAK), reason=f"Kodak images not found at {KODAK}")


@pytest.fixture(scope="module")
def shipped():
    from tfcomp import zoo
    from tfcomp.codecs import learned

    zoo._index.cache_clear()
    return learned.load(None)


def test_shipped_model_metadata_is_complete(shipped):
    meta = shipped.metadata
    training = meta["training"]
    assert training["steps"] > 1000 and training["wall_time_s"] > 0 and "bsds500" in training["data"]
    assert "kodak" not in training["data"].lower()
    # A variable-rate model records its Kodak curve, one point per level.
    kodak = meta["kodak_curve"] if meta.get("qualities") else [meta["kodak"]]
    assert all({"bpp", "psnr", "ms_ssim"} <= set(point) for point in kodak)
    from tfcomp.training.saving import directory_sha256

    assert directory_sha256(shipped.path) == meta["savedmodel_sha256"]


@needs_kodak
def test_kodak_round_trip_across_processes_beats_jpeg(cli, shipped, tmp_path):
    from tfcomp.codecs.classic import PillowCodec
    from tfcomp.evaluation import bdrate, metrics

    source = os.path.join(KODAK, "kodim05.png")
    cli.run("compress", source, str(tmp_path / "k.tfc"), check=True)
    cli.run("decompress", str(tmp_path / "k.tfc"), check=True)
    decoded = np.asarray(Image.open(tmp_path / "k.tfc.png"))
    original = np.asarray(Image.open(source))
    data = (tmp_path / "k.tfc").read_bytes()
    np.testing.assert_array_equal(decoded, shipped.decode(data))
    bpp = metrics.bits_per_pixel(len(data), *original.shape[:2])
    jpeg = [(metrics.bits_per_pixel(len(d), 512, 768), metrics.psnr(original, c.decode(d)))
            for c in PillowCodec.sweep("jpeg") for d in [c.encode(original)]]
    jpeg_psnr = bdrate.quality_at_rate([r for r, _ in jpeg], [q for _, q in jpeg], bpp)
    assert metrics.psnr(original, decoded) > jpeg_psnr + 1.0


@needs_kodak
def test_estimated_rate_matches_file_size_on_kodak(shipped):
    from tfcomp.codecs import container

    image = np.asarray(Image.open(os.path.join(KODAK, "kodim01.png")).convert("RGB"))
    real_bits = 8 * sum(len(s) for s in container.unpack(shipped.encode(image)).strings)
    estimate = shipped.estimated_bits(image)
    assert abs(real_bits - estimate) / real_bits < 0.02, (real_bits, estimate)


def test_demo_prints_the_comparison(cli, tmp_path):
    result = cli.run("demo", "--out", str(tmp_path / "demo"), check=True)
    assert "tfcomp" in result.stdout and "jpeg-q" in result.stdout and "webp-q" in result.stdout
    for name in ("sample.tfc", "sample.tfc.png", "sample.jpg", "sample.webp", "side_by_side.png"):
        assert os.path.getsize(tmp_path / "demo" / name) > 0


@pytest.mark.slow
@needs_kodak
def test_target_psnr_picks_the_cheapest_rung_that_reaches_it(cli, tmp_path):
    """`--target-psnr 32` with the bls2017 ladder on Kodak images: the file `tfcomp decompress` decodes
    reaches 32 dB and the rung below it (when there is one) does not."""
    from tfcomp.codecs import ladder
    from tfcomp.evaluation import metrics

    rungs = ladder.ladder("bls2017")
    results = {}
    for stem in ("kodim03", "kodim13"):
        source = os.path.join(KODAK, f"{stem}.png")
        target = tmp_path / f"{stem}.tfc"
        results[stem] = cli.run("compress", "-m", "bls2017", "--target-psnr", "32", source, str(target), check=True)
    cli.run("decompress", *(str(tmp_path / f"{stem}.tfc") for stem in results), check=True)
    for stem, result in results.items():
        source = os.path.join(KODAK, f"{stem}.png")
        target = tmp_path / f"{stem}.tfc"
        original = np.asarray(Image.open(source).convert("RGB"))
        decoded = np.asarray(Image.open(str(target) + ".png"))
        from tfcomp.codecs.container import unpack

        used = [r.name for r in rungs].index(unpack(target.read_bytes()).model)
        if "warning" in result.stderr:
            assert used == len(rungs) - 1 and metrics.psnr(original, decoded) < 32
            continue
        assert metrics.psnr(original, decoded) >= 32
        if used > 0:
            below = rungs[used - 1]
            assert metrics.psnr(original, below.decode(below.encode(original))) < 32


def _shipped_slimmable() -> list[str]:
    from tfcomp import zoo

    return [m["name"] for m in zoo.list_models() if m["config"].get("widths")]


SHIPPED_SLIMMABLE = _shipped_slimmable()


@pytest.mark.slow
@pytest.mark.parametrize("name", SHIPPED_SLIMMABLE)
def test_shipped_slimmable_model_codes_every_width_across_processes(cli, name, tmp_path):
    """One SavedModel, one set of weights: the bundled sample compressed at every width by the CLI is the file
    this process writes, and one `tfcomp decompress` of all the files decodes each to the pixels of decoding
    here, the width index read back from the file; narrower widths, smaller files."""
    from tfcomp.codecs import container
    from tfcomp.codecs.learned import LearnedCodec, rate_points
    from tfcomp.data.images import read_image
    from tfcomp.samples import SAMPLE_IMAGE
    from tfcomp import zoo

    points = rate_points(next(m for m in zoo.list_models() if m["name"] == name))
    assert len({p.path for p in points}) == 1 and len(points) == len(points[0].widths)
    image = read_image(SAMPLE_IMAGE)[0]
    sizes = []
    for point in points:
        width = point.widths[point.width_index]
        target = tmp_path / f"w{width}.tfc"
        cli.run("compress", "-m", name, "--width", str(width), SAMPLE_IMAGE, str(target), check=True)
        assert target.read_bytes() == point.encode(image)
        assert container.unpack(target.read_bytes()).variant == point.width_index
        sizes.append((width, target.stat().st_size))
    cli.run("decompress", *(str(tmp_path / f"w{p.widths[p.width_index]}.tfc") for p in points), check=True)
    for point in points:
        target = tmp_path / f"w{point.widths[point.width_index]}.tfc"
        decoded = np.asarray(Image.open(str(target) + ".png"))
        np.testing.assert_array_equal(decoded, LearnedCodec(point.path, point.width_index).decode(target.read_bytes()))
    assert [s for _, s in sorted(sizes)] == sorted(s for _, s in sizes)
