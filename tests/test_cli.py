"""The CLI verbs end to end with a tiny model in a private zoo: files written and read by fresh processes, the
other commands run one after another in the session's CLI process (the `cli` fixture)."""
import json
import os
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
from PIL import Image

from conftest import REPO, TINY, TINY_HIGH, run_tfcomp, smooth_image


@pytest.fixture()
def photo(tmp_path):
    path = tmp_path / "photo.png"
    Image.fromarray(smooth_image(80, 120, seed=3)).save(path)
    return path


def assert_clean_failure(result, *paths):
    """Exit code 2, exactly one line on stderr, no traceback, and none of the outputs written."""
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tfcomp: error:"), result.stderr
    for path in paths:
        assert not os.path.exists(path)
    leftovers = [p for p in os.listdir(os.path.dirname(paths[0]) if paths else ".") if p.endswith(".part")]
    assert not leftovers


def test_round_trip_in_separate_processes_is_pixel_identical(zoo_env, photo, tmp_path):
    from tfcomp.codecs import learned

    compressed = run_tfcomp("compress", str(photo), env=zoo_env, check=True)
    decompressed = run_tfcomp("decompress", str(tmp_path / "photo.tfc"), env=zoo_env, check=True)
    # A fresh process says nothing on stderr (no TensorFlow start-up chatter): the one-line errors that the
    # tests below check in the CLI process are all a user sees.
    assert compressed.stderr == decompressed.stderr == ""
    decoded = np.asarray(Image.open(tmp_path / "photo.tfc.png"))
    codec = learned.load(TINY)
    data = (tmp_path / "photo.tfc").read_bytes()
    original = np.asarray(Image.open(photo))
    # The file another process wrote is what this process writes, and decodes to the same pixels.
    assert codec.encode(original) == data
    np.testing.assert_array_equal(decoded, codec.decode(data))
    assert decoded.shape == original.shape


def test_architecture_name_selects_its_default_model(cli, zoo_env, photo, tmp_path):
    result = cli.run("compress", "-m", "bls2017", str(photo), str(tmp_path / "a.tfc"), env=zoo_env, check=True)
    assert TINY in result.stdout and "bpp" in result.stdout


def test_grayscale_and_rgba_inputs(cli, zoo_env, tmp_path):
    gray = tmp_path / "gray.png"
    Image.fromarray(smooth_image(40, 56)[..., 0]).save(gray)
    result = cli.run("compress", str(gray), env=zoo_env, check=True)
    assert "grayscale" in result.stderr
    cli.run("decompress", str(tmp_path / "gray.tfc"), env=zoo_env, check=True)
    assert Image.open(tmp_path / "gray.tfc.png").mode == "L"
    rgba = tmp_path / "rgba.png"
    Image.fromarray(smooth_image(40, 56)).convert("RGBA").save(rgba)
    result = cli.run("compress", str(rgba), env=zoo_env, check=True)
    assert "alpha channel dropped" in result.stderr


def test_refuses_to_overwrite_without_force(cli, zoo_env, photo, tmp_path):
    target = tmp_path / "exists.tfc"
    target.write_bytes(b"keep me")
    result = cli.run("compress", str(photo), str(target), env=zoo_env)
    assert result.returncode == 2 and target.read_bytes() == b"keep me"
    cli.run("compress", "--force", str(photo), str(target), env=zoo_env, check=True)
    assert target.read_bytes()[:4] == b"TFCP"


@pytest.fixture()
def good_file(cli, zoo_env, photo, tmp_path):
    cli.run("compress", str(photo), str(tmp_path / "good.tfc"), env=zoo_env, check=True)
    return (tmp_path / "good.tfc").read_bytes()


def reseal(data: bytes) -> bytes:
    return data[:-4] + struct.pack(">I", zlib.crc32(data[:-4]))


@pytest.mark.parametrize("case", ["not_tfcomp", "truncated", "bit_flip", "wrong_model_tables",
                                  "unknown_model", "absurd_size", "empty", "missing"])
def test_bad_files_fail_cleanly(cli, case, good_file, zoo_env, tmp_path):
    bad = tmp_path / "bad.tfc"
    data = bytearray(good_file)
    name_end = 6 + data[5]
    if case == "not_tfcomp":
        data = bytearray(b"\x89PNG\r\n\x1a\n" + bytes(64))
    elif case == "truncated":
        data = data[: len(data) // 2]
    elif case == "bit_flip":
        data[-10] ^= 0x01
    elif case == "wrong_model_tables":
        data[name_end] ^= 0xFF  # entropy-table hash of another model version
        data = bytearray(reseal(bytes(data)))
    elif case == "unknown_model":
        data[6:name_end] = b"x" * (name_end - 6)
        data = bytearray(reseal(bytes(data)))
    elif case == "absurd_size":
        data[name_end + 16:name_end + 20] = struct.pack(">I", 999999)
        data = bytearray(reseal(bytes(data)))
    elif case == "empty":
        data = bytearray()
    if case != "missing":
        bad.write_bytes(bytes(data))
    out = tmp_path / "bad.png"
    assert_clean_failure(cli.run("decompress", str(bad), str(out), env=zoo_env), str(out))


@pytest.mark.parametrize("case", ["text", "missing", "directory", "truncated_png"])
def test_bad_images_fail_cleanly(cli, case, zoo_env, photo, tmp_path):
    source = tmp_path / f"input_{case}.png"
    if case == "text":
        source.write_text("hello, not an image")
    elif case == "directory":
        source.mkdir()
    elif case == "truncated_png":
        source.write_bytes(photo.read_bytes()[:200])
    out = tmp_path / "out.tfc"
    assert_clean_failure(cli.run("compress", str(source), str(out), env=zoo_env), str(out))


def test_bad_output_suffix_and_unknown_model(cli, zoo_env, good_file, photo, tmp_path):
    (tmp_path / "g.tfc").write_bytes(good_file)
    assert_clean_failure(cli.run("decompress", str(tmp_path / "g.tfc"), str(tmp_path / "g.jpg"), env=zoo_env),
                         str(tmp_path / "g.jpg"))
    assert_clean_failure(cli.run("compress", "-m", "nope", str(photo), str(tmp_path / "n.tfc"), env=zoo_env),
                         str(tmp_path / "n.tfc"))


def test_zoo_lists_models(cli, zoo_env):
    listed = json.loads(cli.run("zoo", "--json", env=zoo_env, check=True).stdout)
    assert [m["name"] for m in listed] == [TINY, TINY_HIGH] and [m["default"] for m in listed] == [True, False]
    assert TINY in cli.run("zoo", env=zoo_env, check=True).stdout


def test_zoo_shows_a_variable_rate_models_kodak_point_at_its_default_quality():
    from tfcomp.cli.zoo_cmd import _kodak_point

    curve = [{"quality": 1, "bpp": 0.1}, {"quality": 5, "bpp": 0.48}]
    assert _kodak_point({"kodak_curve": curve, "default_quality": 5.0})["bpp"] == 0.48
    assert _kodak_point({"kodak": {"bpp": 0.2}, "kodak_curve": curve}) == {"bpp": 0.2}
    assert _kodak_point({"config": {}}) == {}


def test_help_and_usage_errors():
    result = run_tfcomp("--help")
    assert result.returncode == 0 and "compress" in result.stdout and "evaluate" in result.stdout
    assert run_tfcomp("compress").returncode == 2
    assert run_tfcomp("frobnicate").returncode == 2


def test_quality_picks_a_rung(cli, zoo_env, photo, tmp_path):
    low = cli.run("compress", "-q", "1", str(photo), str(tmp_path / "1.tfc"), env=zoo_env, check=True)
    high = cli.run("compress", "-q", "2", str(photo), str(tmp_path / "2.tfc"), env=zoo_env, check=True)
    assert TINY in low.stdout and TINY_HIGH in high.stdout
    assert_clean_failure(cli.run("compress", "-q", "3", str(photo), str(tmp_path / "3.tfc"), env=zoo_env),
                         str(tmp_path / "3.tfc"))


def rung_points(image):
    from tfcomp.codecs import ladder
    from tfcomp.evaluation import metrics

    points = []
    for codec in ladder.ladder(None):
        data = codec.encode(image)
        points.append((codec.name, metrics.bits_per_pixel(len(data), *image.shape[:2]),
                       metrics.psnr(image, codec.decode(data))))
    return points


@pytest.mark.parametrize("pick", [0, 1, None])
def test_target_psnr_picks_the_cheapest_rung_that_meets_it(cli, pick, zoo_env, photo, tmp_path):
    image = np.asarray(Image.open(photo))
    points = rung_points(image)
    target = points[pick][2] - 1e-3 if pick is not None else max(p for _, _, p in points) + 5
    result = cli.run("compress", "--target-psnr", str(target), str(photo), str(tmp_path / "t.tfc"),
                        env=zoo_env, check=True)
    from tfcomp.codecs import learned
    from tfcomp.evaluation import metrics

    data = (tmp_path / "t.tfc").read_bytes()
    used = data[6:6 + data[5]].decode()
    index = [name for name, _, _ in points].index(used)
    psnr = metrics.psnr(image, learned.load(used).decode(data))
    if pick is None:  # unreachable: the top rung, with a one-line warning
        assert index == len(points) - 1 and "warning" in result.stderr
    else:
        assert psnr >= target and all(p < target for _, _, p in points[:index])
    assert f"picked rung {index + 1}" in result.stderr


def test_target_bpp_stays_within_budget(cli, zoo_env, photo, tmp_path):
    image = np.asarray(Image.open(photo))
    points = rung_points(image)
    budget = max(b for _, b, _ in points) + 0.01
    cli.run("compress", "--target-bpp", str(budget), str(photo), str(tmp_path / "b.tfc"), env=zoo_env, check=True)
    data = (tmp_path / "b.tfc").read_bytes()
    assert 8 * len(data) / (image.shape[0] * image.shape[1]) <= budget
    assert_clean_failure(cli.run("compress", "--target-bpp", "-1", str(photo), str(tmp_path / "n.tfc"),
                                    env=zoo_env), str(tmp_path / "n.tfc"))


def test_a_ladder_without_a_marked_default_resolves_to_its_middle_rung(tiny_zoo, tmp_path, monkeypatch):
    from tfcomp import zoo

    for name in (TINY, TINY_HIGH):
        os.symlink(os.path.join(tiny_zoo, name), tmp_path / name)
    (tmp_path / "zoo.json").write_text(json.dumps({"default": TINY}))
    monkeypatch.setenv("TFCOMP_MODELS", str(tmp_path))
    zoo._index.cache_clear()
    assert os.path.basename(zoo.resolve("bls2017")) == TINY_HIGH
    assert [m["name"] for m in zoo.family_rungs("bls2017")] == [TINY, TINY_HIGH]
    zoo._index.cache_clear()


def test_a_reader_that_leaves_early_is_not_an_error():
    """`tfcomp zoo | head -1`: the write into the closed pipe ends the command quietly (no traceback)."""
    process = subprocess.Popen([sys.executable, "-m", "tfcomp", "zoo"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, cwd=REPO)
    process.stdout.close()  # before the command has started: its first write meets a closed pipe
    stderr = process.stderr.read()
    assert process.wait() == 141 and stderr == ""


@pytest.mark.parametrize("program, flags", [
    ("tfcomp.evaluation.portability", ["--images"]),
    ("tfcomp.evaluation.product_check", ["--images"]),
    ("tfcomp.evaluation.large_image", ["--work", "{tmp}/work", "--kodak"]),
    ("tfcomp.evaluation.batch_check", ["--work", "{tmp}/work", "--kodak"]),
])
def test_measurement_programs_refuse_a_missing_image_folder_in_one_line(program, flags, tmp_path):
    missing, out = str(tmp_path / "no-such-folder"), str(tmp_path / "out")
    args = [flag.format(tmp=tmp_path) for flag in flags] + [missing, "--out", out]
    result = subprocess.run([sys.executable, "-m", program, *args], capture_output=True, text=True, cwd=REPO)
    name, lines = program.rsplit(".", 1)[1], result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert lines[0].startswith(f"{name}: error: no images found at '{missing}"), lines[0]
    assert os.listdir(tmp_path) == []  # nothing written
