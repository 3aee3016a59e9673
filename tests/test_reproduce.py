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
