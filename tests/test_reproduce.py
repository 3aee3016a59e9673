"""The reproduction run rewrites the README's results section from measured data."""
import json
import os
import shutil

from PIL import Image

from conftest import SLIMCAE_WIDTHS, TINY, TINY_HIGH, smooth_image


def test_reproduce_writes_results_and_readme_section(cli, tiny_zoo, slimcae_tiny, tmp_path):
    """One run (each takes minutes) over a zoo of the tiny bls2017 ladder and a slimmable model: the results
    section, and for the slimmable model seed 001's per-width table, the MS-SSIM histograms and the grid of
    reconstructions."""
    zoo = tmp_path / "zoo"
    zoo.mkdir()
    for name in (TINY, TINY_HIGH):
        os.symlink(os.path.join(tiny_zoo, name), zoo / name)
    os.symlink(slimcae_tiny.path, zoo / "slimcae-tiny")
    (zoo / "zoo.json").write_text(json.dumps({"default": TINY, "architecture_defaults": {"bls2017": TINY}}))
    images = tmp_path / "kodak"
    images.mkdir()
    for i, stem in enumerate(("kodim23", "kodim07")):  # kodim23 has a visual and the SlimCAE grid
        Image.fromarray(smooth_image(272, 272, seed=i)).save(images / f"{stem}.png")
    readme = tmp_path / "README.md"
    readme.write_text("# x\n<!-- results:start -->\nstale\n<!-- results:end -->\ntail\n")
    out = tmp_path / "results"
    cli.run("reproduce", "--images", str(images), "--out", str(out), "--readme", str(readme), "--repeats", "1",
            "--warmup", "0", "--timing-images", "1", env={"TFCOMP_MODELS": str(zoo)}, check=True)
    text = readme.read_text()
    assert "stale" not in text and text.endswith("<!-- results:end -->\ntail\n")
    assert f"| {TINY} |" in text and "Lighter decoders (seed 002)" in text and "BD-rate" in text
    assert f"| {TINY} (default) |" in text and "### Shipped models" in text
    assert "visual_kodim23.png" in text and os.path.getsize(out / "visual_kodim23.png") > 10000
    assert not (out / "visual_kodim07.png").exists()
    assert "### The other systems of the source documents" in text
    assert "| SDAE (004), seed's coding | sdae-deflate |" in text and "| Residual AE (000), small |" in text
    assert "### SlimCAE `slimcae-tiny` (seed 001), per width" in text
    for width in SLIMCAE_WIDTHS:
        assert f"| {width} | slimcae-tiny-w{width} |" in text
    assert (out / "ms_ssim_slimcae-tiny.png").stat().st_size > 5000 and (out / "widths_slimcae-tiny.png").exists()
    shutil.rmtree(out / "files")


def test_decoder_verdict_needs_both_the_speed_and_the_quality_at_every_lambda():
    from tfcomp.evaluation.reproduce import _decoder_verdict

    def row(decoder, ratio, delta):
        return dict(decoder=decoder, n=64, ratio=ratio, delta=delta)
    rows = [row("baseline", 1.0, 0.0), row("K3x3", 0.55, -0.1), row("K3x3", 0.58, -0.15),
            row("2L", 0.5, -0.1), row("2L", 0.52, -0.3), row("2L-K3x3", 0.3, -1.0), row("2L-K3x3", 0.61, 0.0)]
    text = _decoder_verdict(rows)
    assert "at every lambda: K3x3 (N=64)." in text and "Fastest variant: 2L (N=64)." in text
    assert "2L-K3x3 (N=64) 0.61x, -1.00 dB" in text


def test_a_variant_is_compared_with_the_baseline_of_its_own_width(monkeypatch, tmp_path):
    from tfcomp import zoo
    from tfcomp.evaluation import reproduce

    def model(name, family, decoder, n, psnr, decode):
        meta = dict(name=name, architecture="bls2017", family=family, path=str(tmp_path),
                    config=dict(decoder=decoder, lmbda=0.003, num_filters=n), parameters=dict(synthesis=1))
        return meta, dict(bpp=0.27, psnr=psnr, timing=dict(decode=decode))
    shipped = [model("bls2017-mse-2", "bls2017", "baseline", 64, 27.7, 0.10),
               model("bls2017-K3x3-mse-2", "bls2017-K3x3", "K3x3", 64, 27.6, 0.065),
               model("bls2017-n192-mse-2", "bls2017-n192", "baseline", 192, 28.3, 0.30),
               model("bls2017-K3x3-n192-mse-2", "bls2017-K3x3-n192", "K3x3", 192, 28.2, 0.15)]
    monkeypatch.setattr(zoo, "list_models", lambda: [meta for meta, _ in shipped])
    summary = dict(codecs={meta["name"]: point for meta, point in shipped},
                   curves=dict(bls2017=[dict(shipped[0][1], codec="bls2017-mse-2")]))
    text = "\n".join(reproduce.decoder_table(summary, str(tmp_path)))
    assert "K3x3 (N=192) 0.50x, -0.10 dB" in text and "K3x3 (N=64) 0.65x, -0.10 dB" in text
    assert "at every lambda: K3x3 (N=192)." in text


def test_model_size_leaves_out_the_metadata_the_run_rewrites(tmp_path):
    from tfcomp.evaluation.reproduce import _size_mb

    (tmp_path / "variables").mkdir()
    (tmp_path / "variables" / "variables.data").write_bytes(b"x" * 3000)
    (tmp_path / "saved_model.pb").write_bytes(b"x" * 1000)
    (tmp_path / "metadata.json").write_text("{}")
    before = _size_mb(str(tmp_path))
    (tmp_path / "metadata.json").write_text('{"kodak": {"bpp": 0.5}}')
    assert before == _size_mb(str(tmp_path)) == 0.004
