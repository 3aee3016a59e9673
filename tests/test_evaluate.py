"""The evaluation harness on generated images: files, separate-process decoding, tables, plot."""
import csv
import json
import math
import os

from conftest import TINY, TINY_HIGH, run_tfcomp


def test_evaluate_writes_every_output(zoo_env, image_folder, tmp_path):
    out = tmp_path / "eval"
    result = run_tfcomp("evaluate", TINY, "jpeg", "webp", "--images", image_folder, "--limit", "2",
                        "--out", str(out), "--repeats", "2", "--warmup", "1", env=zoo_env, check=True)
    assert TINY in result.stdout and "dPSNR vs JPEG" in result.stdout
    rows = list(csv.DictReader(open(out / "per_image.csv")))
    assert len(rows) == 2 * (1 + 13 + 12)
    assert all(r["identical_across_processes"] == "True" for r in rows)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["decoded_in_separate_process"] and summary["images"] == 2
    point = summary["codecs"][TINY]
    assert point["bpp"] > 0 and 5 < point["psnr"] < 60 and 0 < point["ms_ssim"] <= 1
    stages = point["timing"]
    assert set(stages) == {"encode", "decode", "analysis", "entropy_encode", "entropy_decode", "synthesis"}
    assert all(v > 0 for v in stages.values())
    assert os.path.getsize(out / "rd.png") > 10000


def test_bd_table_for_a_ladder(zoo_env, image_folder, tmp_path):
    """With two or more points per family, BD-rates against every classic codec are reported."""
    from tfcomp.evaluation.evaluate import summarize

    rows = []
    for family, name, bpp, psnr in [("jpeg", "jpeg-q10", 0.3, 26.0), ("jpeg", "jpeg-q50", 0.9, 32.0),
                                    ("jpeg", "jpeg-q90", 2.0, 38.0), ("ours", "ours-1", 0.27, 26.0),
                                    ("ours", "ours-2", 0.81, 32.0), ("ours", "ours-3", 1.8, 38.0)]:
        rows.append({"codec": name, "family": family, "bpp": bpp, "psnr": psnr, "mse": 1.0, "ssim": 0.9,
                     "ms_ssim": 0.95, "identical_across_processes": True})
    summary = summarize(rows, {})
    assert abs(summary["bd_rate"]["ours"]["jpeg"]["psnr"] - (-10.0)) < 1e-6
    # JPEG interpolated in log-rate at 0.81 bpp: 26 + 6 * ln(0.81 / 0.3) / ln(0.9 / 0.3) = 31.425 dB.
    expected = 32.0 - (26.0 + 6.0 * math.log(2.7) / math.log(3.0))
    assert abs(summary["psnr_gain_vs_jpeg"]["ours-2"] - expected) < 1e-9


def test_bd_table_compares_ladders_with_each_other_and_classic_codecs():
    from tfcomp.evaluation.evaluate import bd_table

    def curve(scale, n):
        return [{"bpp": b * scale, "psnr": 25 + 4 * b, "ms_ssim_db": 10 + 3 * b} for b in (0.25, 0.5, 1.0, 2.0)[:n]]

    flat = [dict(p, psnr=21.5) for p in curve(0.7, 4)]  # PSNR saturates: no BD-rate on PSNR, either way
    table = bd_table({"jpeg": curve(1.0, 4), "a": curve(0.8, 4), "b": curve(0.5, 3), "b-light": curve(0.6, 2),
                      "flat": flat})
    assert set(table) == {"a", "b", "b-light", "flat"}
    assert set(table["a"]) == {"jpeg", "b", "flat"} and set(table["b-light"]) == {"jpeg", "a", "b", "flat"}
    assert math.isnan(table["flat"]["jpeg"]["psnr"]) and math.isnan(table["a"]["flat"]["psnr"])
    assert math.isfinite(table["flat"]["jpeg"]["ms_ssim_db"])  # its MS-SSIM still rises
    assert abs(table["a"]["jpeg"]["psnr"] + 20) < 0.5 and table["b"]["a"]["psnr"] < 0


def test_interleaved_timing_runs_blocks_in_rounds():
    from tfcomp.evaluation.timing import time_interleaved

    calls = []
    times = time_interleaved({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, warmup=1,
                             repeats=4, rounds=2)
    # Each round: a's warm-up and two timed calls, then b's.
    assert calls == (["a"] * 3 + ["b"] * 3) * 2
    assert set(times) == {"a", "b"} and all(t >= 0 for t in times.values())


def test_recorded_metrics_are_strict_json_where_no_jpeg_gain_exists(tiny_zoo, tmp_path, monkeypatch):
    import shutil

    from tfcomp import zoo
    from tfcomp.cli.evaluate_cmd import record_metrics

    monkeypatch.setenv("TFCOMP_MODELS", shutil.copytree(tiny_zoo, tmp_path / "zoo"))
    zoo._index.cache_clear()
    try:
        point = dict(bpp=0.5, psnr=30.0, ms_ssim=0.95, ssim=0.9)
        record_metrics(dict(codecs={TINY: point, TINY_HIGH: point}, psnr_gain_vs_jpeg={TINY_HIGH: 1.2345},
                            images=2, image_dir="kodak"))
    finally:
        zoo._index.cache_clear()

    def strict(constant):
        raise ValueError(f"not JSON: {constant}")
    kodak = {name: json.loads((tmp_path / "zoo" / name / "metadata.json").read_text(),
                              parse_constant=strict)["kodak"] for name in (TINY, TINY_HIGH)}
    assert kodak[TINY]["psnr_gain_vs_jpeg_db"] is None and kodak[TINY_HIGH]["psnr_gain_vs_jpeg_db"] == 1.234
    assert kodak[TINY]["bpp"] == 0.5 and kodak[TINY]["images"] == 2
