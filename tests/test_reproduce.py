"""The reproduction run rewrites the README's results section from measured data."""
import os
import shutil

from PIL import Image

from conftest import TINY, run_tfcomp, smooth_image


def test_reproduce_writes_results_and_readme_section(zoo_env, tmp_path):
    images = tmp_path / "kodak"
    images.mkdir()
    for i, stem in enumerate(("kodim05", "kodim07")):
        Image.fromarray(smooth_image(272, 272, seed=i)).save(images / f"{stem}.png")
    readme = tmp_path / "README.md"
    readme.write_text("# x\n<!-- results:start -->\nstale\n<!-- results:end -->\ntail\n")
    out = tmp_path / "results"
    run_tfcomp("reproduce", "--images", str(images), "--out", str(out), "--readme", str(readme),
               "--repeats", "1", "--warmup", "0", "--timing-images", "1", env=zoo_env, check=True)
    text = readme.read_text()
    assert "stale" not in text and text.endswith("<!-- results:end -->\ntail\n")
    assert f"| {TINY} |" in text and "Lighter decoders (seed 002)" in text and "BD-rate" in text
    assert f"| {TINY} (default) |" in text and "### Shipped models" in text
    assert "visual_kodim05.png" in text and os.path.getsize(out / "visual_kodim05.png") > 10000
    assert not (out / "visual_kodim07.png").exists()
    assert "### The other systems of the source documents" in text
    assert "| SDAE (004), seed's coding | sdae-deflate |" in text and "| Residual AE (000), small |" in text
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
