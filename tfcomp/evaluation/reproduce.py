"""The Kodak reproduction run: every shipped family against JPEG, WebP, JPEG 2000 and AVIF measured in one run
(results/kodak/), and the documents written from its record: the README's summary block and docs/results.md.

`reproduce` measures and records everything the documents show in summary.json; `write_documents` writes
them from that record alone (`tfcomp reproduce --report-only`). A family measured by an earlier run on the
same images whose models have left the zoo keeps its rows (summary["carried"])."""
from __future__ import annotations

import csv
import json
import os

import numpy as np
from tqdm import tqdm

from tfcomp import registry, report, zoo
from tfcomp.codecs.classic import PillowCodec
from tfcomp.codecs.learned import LearnedCodec
from tfcomp.data.images import read_image
from tfcomp.evaluation import bdrate, metrics, model_report, plots, slimcae_report, systems_report
from tfcomp.evaluation.evaluate import bd_table, evaluate, plot_curves, write_summary
from tfcomp.evaluation.report import readme_summary, results_document
from tfcomp.evaluation.timing import decode_time_medians

VISUAL_IMAGES = ("kodim05", "kodim23")
TARGET_PSNR = 32.0
README_BLOCK, RESULTS_BLOCK = "results", "results-tables"


def shipped_families() -> list[str]:
    """Every ladder in the zoo, in name order."""
    return sorted({m.get("family", m["architecture"]) for m in zoo.list_models()})


def reproduce(image_paths: list[str], out_dir: str, readme: str | None, results_doc: str | None,
              kodak: str, timing_images: int = 2, warmup: int = 2, repeats: int = 5) -> dict:
    """Measures everything, records it in out_dir/summary.json, and writes the documents (those not None)."""
    previous = load_summary(out_dir) if os.path.exists(os.path.join(out_dir, "summary.json")) else None
    os.makedirs(out_dir, exist_ok=True)
    families = shipped_families() + list(registry.BASELINE_FAMILIES) + list(registry.CLASSIC_FAMILIES)
    summary = evaluate(families, image_paths, out_dir, timing_images, warmup, repeats)
    summary["report"] = dict(models=model_report.model_records(), default_model=zoo.default_model())
    summary["report"].update(
        decoder_decode_s=interleaved_decode_times(
            [r["name"] for r in model_report.decoder_rows(summary)], image_paths[:timing_images], out_dir),
        target_psnr=target_psnr_check(image_paths, out_dir),
        visuals=visual_comparisons(image_paths, out_dir),
        slimcae=slimcae_report.slimmable_figures(image_paths, out_dir),
        systems=systems_report.systems_data(summary, image_paths, out_dir, kodak))
    if previous:
        carry_over(summary, previous)
    write_summary(summary, out_dir)
    plot_curves(summary, out_dir)
    # From the record as written (keys sorted), so that a run and --report-only write the same documents.
    write_documents(load_summary(out_dir), out_dir, readme, results_doc)
    return summary


def load_summary(out_dir: str) -> dict:
    """A run's record."""
    with open(os.path.join(out_dir, "summary.json")) as f:
        return json.load(f)


def write_documents(summary: dict, out_dir: str, readme: str | None, results_doc: str | None) -> None:
    """Rewrites the README's summary block and the generated part of docs/results.md from a run's record."""
    if readme:
        link = os.path.relpath(results_doc, os.path.dirname(readme) or ".") if results_doc else "docs/results.md"
        report.replace_block(readme, README_BLOCK, readme_summary(summary, _link(out_dir, readme), link))
    if results_doc:
        report.replace_block(results_doc, RESULTS_BLOCK,
                             results_document(summary, out_dir, _link(out_dir, results_doc)))


def _link(out_dir: str, document: str) -> str:
    """out_dir as a document links it."""
    return os.path.relpath(out_dir, os.path.dirname(os.path.abspath(document)) or ".")


def carry_over(summary: dict, previous: dict) -> None:
    """Keeps the rows of families that an earlier run on the same images measured and whose models are no longer
    in the zoo (a study model that left the zoo keeps its numbers); the BD-rates are computed again over all."""
    if (previous.get("images"), previous.get("image_dir")) != (summary["images"], summary["image_dir"]):
        return
    measured = set(summary["curves"])
    carried = sorted(set(previous["curves"]) - measured)
    for family in carried:
        summary["curves"][family] = previous["curves"][family]
        for point in previous["curves"][family]:
            summary["codecs"][point["codec"]] = previous["codecs"][point["codec"]]
    old = previous.get("report", {})
    for name, record in old.get("models", {}).items():
        if name not in summary["report"]["models"] and record["family"] in carried:
            summary["report"]["models"][name] = dict(record, shipped=False)
            if name in old.get("decoder_decode_s", {}):
                summary["report"]["decoder_decode_s"][name] = old["decoder_decode_s"][name]
    summary["carried"] = sorted(set(carried) | set(previous.get("carried", [])) - measured)
    summary["bd_rate"] = bd_table(summary["curves"])
    summary["psnr_gain_vs_jpeg"] = bdrate.gains_vs(summary["curves"], "jpeg")


def target_psnr_check(image_paths: list[str], out_dir: str, target: float = TARGET_PSNR) -> dict:
    """`--target-psnr` on every image: the rung picked must reach the target and be the cheapest that does, by
    the separate-process PSNRs of the evaluation (per_image.csv)."""
    from tfcomp.codecs import ladder

    rungs = ladder.ladder(None)
    measured = {}
    with open(os.path.join(out_dir, "per_image.csv")) as f:
        for row in csv.DictReader(f):
            measured[(row["image"], row["codec"])] = float(row["psnr"])
    counts, notes, bpps, ok = {}, [], [], True
    for path in tqdm(image_paths, desc=f"--target-psnr {target:g}", unit="image"):
        stem = os.path.splitext(os.path.basename(path))[0]
        image, _, _ = read_image(path)
        choice = ladder.choose(rungs, image, target_psnr=target)
        psnrs = [measured.get((stem, r.name)) for r in rungs]
        reaching = [i for i, q in enumerate(psnrs) if q is not None and q >= target]
        expected = rungs[reaching[0]] if reaching else rungs[-1]
        decoded_psnr = metrics.psnr(image, choice.codec.decode(choice.data))
        counts[choice.codec.name] = counts.get(choice.codec.name, 0) + 1
        bpps.append(choice.bpp)
        if choice.codec.name != expected.name or (reaching and decoded_psnr < target):
            ok = False
            notes.append(f"{stem} (picked {choice.codec.name}, expected {expected.name}, {decoded_psnr:.2f} dB)")
        elif not reaching:
            notes.append(f"{stem}: no rung reaches {target:g} dB, top rung used ({decoded_psnr:.2f} dB, warned)")
    return dict(target=target, family=rungs[0].family, counts=counts, mean_bpp=float(np.mean(bpps)), ok=ok,
                notes=notes)


def interleaved_decode_times(names: list[str], image_paths: list[str], out_dir: str, rounds: int = 10,
                             repeats: int = 20) -> dict[str, float]:
    """Median decode time (entropy decoding included) of each model's file of each image, the models timed
    in interleaved rounds (a slow spell of the machine, or the threads one model leaves spinning, cannot
    favour another); the median over the images."""
    def files_of(path: str) -> dict[str, bytes]:
        stem = os.path.splitext(os.path.basename(path))[0]
        files = {}
        for name in names:
            with open(os.path.join(out_dir, "files", f"{stem}.{name}.bin"), "rb") as f:
                files[name] = f.read()
        return files

    codecs = {name: registry.codec(name) for name in names}
    return decode_time_medians(codecs, map(files_of, image_paths), warmup=2, repeats=repeats, rounds=rounds)


def visual_comparisons(image_paths: list[str], out_dir: str) -> list[str]:
    """Side-by-side crops at matched size (original, default model, JPEG, WebP) for a few images: their files."""
    codec = LearnedCodec(zoo.resolve(None))
    written = []
    for path in image_paths:
        stem = os.path.splitext(os.path.basename(path))[0]
        if stem not in VISUAL_IMAGES:
            continue
        image, _, _ = read_image(path)
        data = codec.encode(image)
        decoded = codec.decode(data)
        height, width = image.shape[:2]
        panels = [("original", image), (_label(codec.name, data, image, decoded), decoded)]
        for family in ("jpeg", "webp"):
            classic, classic_data = PillowCodec.at_least(family, image, len(data))
            classic_decoded = classic.decode(classic_data)
            panels.append((_label(classic.name, classic_data, image, classic_decoded), classic_decoded))
        written.append(f"visual_{stem}.png")
        plots.side_by_side(panels, os.path.join(out_dir, written[-1]), (height // 2 - 128, width // 2 - 128, 256))
    return written


def _label(name: str, data: bytes, original: np.ndarray, decoded: np.ndarray) -> str:
    bpp = metrics.bits_per_pixel(len(data), *original.shape[:2])
    return f"{name}\n{len(data)} B, {bpp:.3f} bpp, {metrics.psnr(original, decoded):.2f} dB"
