"""The reproduction run records what it measured, and the README's summary and docs/results.md are written
from that record (again with --report-only, without measuring)."""
import copy
import json
import os
import shutil

from PIL import Image

from conftest import SLIMCAE_WIDTHS, TINY, TINY_HIGH, smooth_image

README = "# x\n<!-- results:start -->\nstale\n<!-- results:end -->\ntail\n"
RESULTS_DOC = "# Results\n<!-- results-tables:start -->\nstale\n<!-- results-tables:end -->\n"


def test_reproduce_records_the_run_and_writes_both_documents(cli, tiny_zoo, slimcae_tiny, tmp_path):
    """One run (each takes minutes) over a zoo of the tiny bls2017 ladder and a slimmable model."""
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
    (tmp_path / "docs").mkdir()
    readme, doc = tmp_path / "README.md", tmp_path / "docs" / "results.md"
    readme.write_text(README)
    doc.write_text(RESULTS_DOC)
    out = tmp_path / "results"
    args = ["--images", str(images), "--out", str(out), "--readme", str(readme), "--results-doc", str(doc)]
    cli.run("reproduce", *args, "--repeats", "1", "--warmup", "0", "--timing-images", "1",
            env={"TFCOMP_MODELS": str(zoo)}, check=True)
    text, full = readme.read_text(), doc.read_text()
    assert "stale" not in text and text.endswith("<!-- results:end -->\ntail\n")
    assert f"| `{TINY}` | 1 |" in text and "vs JPEG 2000" in text and "](docs/results.md)" in text
    assert "![RD curves](results/rd.png)" in text and "![RD curves](../results/rd.png)" in full
    assert f"| {TINY} (default) |" in full and "## BD-rate of every pair" in full
    assert "## Decoder variants of the factorized model" in full and "visual_kodim23.png" in full
    assert os.path.getsize(out / "visual_kodim23.png") > 10000 and not (out / "visual_kodim07.png").exists()
    assert "## The other systems of the source documents" in full
    assert "| SDAE, its source's coding | sdae-deflate |" in full and "| Residual AE, small |" in full
    assert "### `slimcae-tiny`, per width" in full
    for width in SLIMCAE_WIDTHS:
        assert f"| {width} | slimcae-tiny-w{width} |" in full
    assert (out / "ms_ssim_slimcae-tiny.png").stat().st_size > 5000 and (out / "widths_slimcae-tiny.png").exists()
    summary = json.loads((out / "summary.json").read_text())
    assert not os.path.isabs(summary["image_dir"]) and set(summary["report"]["models"]) == {TINY, TINY_HIGH,
                                                                                           "slimcae-tiny"}
    # The documents come from the record alone.
    readme.write_text(README)
    doc.write_text(RESULTS_DOC)
    shutil.rmtree(out / "files")
    cli.run("reproduce", *args, "--report-only", env={"TFCOMP_MODELS": str(zoo)}, check=True)
    assert readme.read_text() == text and doc.read_text() == full


def _summary(families: dict[str, list[tuple[float, float]]]) -> dict:
    """A run's record with the given curves (bpp, PSNR) and one model record per learned point."""
    from tfcomp.evaluation.evaluate import bd_table

    curves, codecs, models = {}, {}, {}
    for family, points in families.items():
        for i, (bpp, psnr) in enumerate(points):
            name = f"{family}-q{i}" if family == "jpeg" else f"{family}-mse-{i}"
            point = dict(codec=name, family=family, bpp=bpp, psnr=psnr, ms_ssim=1 - 1 / psnr, ms_ssim_db=psnr / 3,
                         mse=1.0, ssim=0.9)
            curves.setdefault(family, []).append(point)
            codecs[name] = point
            if family != "jpeg":
                models[name] = dict(shipped=True, family=family, architecture="bls2017", version=1, decoder="baseline",
                                    lmbda=0.01 * (i + 1), lambdas="0.01", num_filters=8, synthesis_parameters=1,
                                    size_mb=1.0, steps=1, wall_time_s=60.0, freeze=[], init_from=None, data="x",
                                    device="CPU", stages=[dict(workdir=f"w-{name}", steps=1, wall_time_s=60.0)])
    return dict(curves=curves, codecs=codecs, bd_rate=bd_table(curves), psnr_gain_vs_jpeg={}, images=2,
                image_dir="images", decoded_in_separate_process=True, report=dict(models=models))


def test_a_family_that_left_the_zoo_keeps_its_rows():
    from tfcomp.evaluation.reproduce import carry_over

    jpeg = [(0.2, 26.0), (0.4, 28.0), (0.8, 31.0)]
    previous = _summary({"jpeg": jpeg, "bls2017": [(0.2, 27.0), (0.4, 29.5), (0.8, 32.0)],
                         "bls2017-n64": [(0.25, 27.5), (0.5, 29.0), (0.9, 30.0)]})
    summary = _summary({"jpeg": jpeg, "bls2017": [(0.2, 27.1), (0.4, 29.6), (0.8, 32.1)]})
    carry_over(summary, copy.deepcopy(previous))
    assert summary["carried"] == ["bls2017-n64"] and summary["curves"]["bls2017-n64"] == previous["curves"]["bls2017-n64"]
    assert summary["report"]["models"]["bls2017-n64-mse-0"]["shipped"] is False
    assert summary["curves"]["bls2017"][0]["psnr"] == 27.1  # measured families are this run's
    assert "bls2017-n64" in summary["bd_rate"] and "bls2017-n64" in summary["bd_rate"]["bls2017"]
    other = _summary({"jpeg": jpeg})
    other["images"] = 24  # another image set: nothing is carried
    carry_over(other, copy.deepcopy(previous))
    assert "carried" not in other and set(other["curves"]) == {"jpeg"}


def test_decoder_verdict_needs_both_the_speed_and_the_quality_at_every_lambda():
    from tfcomp.evaluation.model_report import decoder_verdict

    def row(decoder, ratio, delta):
        return dict(decoder=decoder, n=64, ratio=ratio, delta=delta)
    rows = [row("baseline", 1.0, 0.0), row("K3x3", 0.55, -0.1), row("K3x3", 0.58, -0.15),
            row("2L", 0.5, -0.1), row("2L", 0.52, -0.3), row("2L-K3x3", 0.3, -1.0), row("2L-K3x3", 0.61, 0.0)]
    text = decoder_verdict(rows)
    assert "at every lambda: K3x3 (N=64)." in text and "Fastest variant: 2L (N=64)." in text
    assert "2L-K3x3 (N=64) 0.61x, -1.00 dB" in text


def test_a_variant_is_compared_with_the_baseline_of_its_own_width():
    from tfcomp.evaluation import model_report

    def model(name, family, decoder, n, psnr, decode):
        record = dict(shipped=True, family=family, architecture="bls2017", version=1, decoder=decoder, lmbda=0.003,
                      num_filters=n, synthesis_parameters=1, size_mb=1.0)
        return name, record, dict(codec=name, family=family, bpp=0.27, psnr=psnr, timing=dict(decode=decode))
    shipped = [model("bls2017-mse-2", "bls2017", "baseline", 64, 27.7, 0.10),
               model("bls2017-K3x3-mse-2", "bls2017-K3x3", "K3x3", 64, 27.6, 0.065),
               model("bls2017-n192-mse-2", "bls2017-n192", "baseline", 192, 28.3, 0.30),
               model("bls2017-K3x3-n192-mse-2", "bls2017-K3x3-n192", "K3x3", 192, 28.2, 0.15)]
    summary = dict(codecs={name: point for name, _, point in shipped},
                   curves=dict(bls2017=[shipped[0][2]]), report=dict(models={name: r for name, r, _ in shipped}))
    text = "\n".join(model_report.decoder_table(summary))
    assert "K3x3 (N=192) 0.50x, -0.10 dB" in text and "K3x3 (N=64) 0.65x, -0.10 dB" in text
    assert "at every lambda: K3x3 (N=192)." in text


def test_model_size_leaves_out_the_metadata_the_run_rewrites(tmp_path):
    from tfcomp.evaluation.model_report import _size_mb

    (tmp_path / "variables").mkdir()
    (tmp_path / "variables" / "variables.data").write_bytes(b"x" * 3000)
    (tmp_path / "saved_model.pb").write_bytes(b"x" * 1000)
    (tmp_path / "metadata.json").write_text("{}")
    before = _size_mb(str(tmp_path))
    (tmp_path / "metadata.json").write_text('{"kodak": {"bpp": 0.5}}')
    assert before == _size_mb(str(tmp_path)) == 0.004
