"""A model's identity is its name and version: files record the version, and another version refuses them."""
import json
import shutil

from PIL import Image

from conftest import TINY, smooth_image
from test_cli import assert_clean_failure
from tfcomp import zoo
from tfcomp.codecs import container


def test_a_file_of_another_version_is_refused_in_one_line(cli, tiny_zoo, tmp_path):
    image = tmp_path / "photo.png"
    Image.fromarray(smooth_image(64, 96, seed=5)).save(image)
    first = {"TFCOMP_MODELS": tiny_zoo}
    cli.run("compress", str(image), str(tmp_path / "v1.tfc"), env=first, check=True)
    v1 = container.unpack((tmp_path / "v1.tfc").read_bytes())
    assert v1.model_version == 1 and (tmp_path / "v1.tfc").read_bytes()[4] == 1  # format 1: no field

    # The same name retrained: the zoo now holds version 2.
    second = shutil.copytree(tiny_zoo, tmp_path / "zoo")
    metadata = zoo.read_metadata(str(second / TINY))
    zoo.write_metadata(str(second / TINY), dict(metadata, version=2))
    env = {"TFCOMP_MODELS": str(second)}
    result = cli.run("decompress", str(tmp_path / "v1.tfc"), str(tmp_path / "v1.png"), env=env)
    assert_clean_failure(result, str(tmp_path / "v1.png"))
    assert f"needs {TINY} version 1; the installed {TINY} is version 2" in result.stderr

    cli.run("compress", str(image), str(tmp_path / "v2.tfc"), env=env, check=True)
    assert container.unpack((tmp_path / "v2.tfc").read_bytes()).model_version == 2
    cli.run("decompress", str(tmp_path / "v2.tfc"), env=env, check=True)
    listed = {m["name"]: m for m in json.loads(cli.run("zoo", "--json", env=env, check=True).stdout)}
    assert zoo.version(listed[TINY]) == 2
    row = next(line for line in cli.run("zoo", env=env, check=True).stdout.splitlines() if f" {TINY} " in line)
    assert row.split()[1:3] == [TINY, "2"] or row.split()[0:2] == [TINY, "2"]


def test_shipped_versions():
    """Names that were reused with a new meaning carry version 2; the others are version 1."""
    versions = {m["name"]: zoo.version(m) for m in zoo.list_models()}
    assert versions["bls2017-mse-2"] == 1
    assert all(versions[f"bls2017-mse-{rung}"] == 2 for rung in (4, 5, 6))
    assert all(versions[f"bmshj2018-mse-{rung}"] == 2 for rung in (1, 2, 3))


def test_saving_under_an_installed_name_takes_the_next_version(tiny_zoo, monkeypatch):
    from tfcomp.training.saving import next_version

    monkeypatch.setenv("TFCOMP_MODELS", tiny_zoo)
    tables = zoo.read_metadata(f"{tiny_zoo}/{TINY}")["entropy_table_sha256"]
    assert next_version(TINY, tables) == 1  # the same tables (a re-traced model): the same version
    assert next_version(TINY, "0" * 64) == 2
    assert next_version("a-new-name", tables) == 1
