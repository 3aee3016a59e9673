"""The Kodak reproduction run: every shipped ladder against JPEG, WebP, JPEG 2000 and AVIF measured in
the same run, the seed 002 decoder table, visual comparisons, and the README's results section."""
from __future__ import annotations

import csv
import math
import os

import numpy as np
from tqdm import tqdm

from tfcomp import registry, zoo
from tfcomp.codecs.classic import PillowCodec
from tfcomp.codecs.learned import LearnedCodec
from tfcomp.data.images import read_image
from tfcomp.evaluation import metrics, plots
from tfcomp.evaluation.evaluate import evaluate, gains_vs
from tfcomp.evaluation.report import REPO, fmt, replace_section, results_markdown
from tfcomp.evaluation.slimcae_report import slimcae_section
from tfcomp.evaluation.systems_report import systems_section
from tfcomp.evaluation.timing import time_interleaved
from tfcomp.zoo import METADATA

VISUAL_IMAGES = ("kodim05", "kodim23")


def shipped_families() -> list[str]:
    """Every ladder in the zoo, in name order."""
    return sorted({m.get("family", m["architecture"]) for m in zoo.list_models()})


def _size_mb(path: str) -> float:
    # metadata.json is left out: this run rewrites it (the Kodak point), and the size must not depend on that.
    return sum(os.path.getsize(os.path.join(root, f)) for root, _, files in os.walk(path) for f in files
               if os.path.join(root, f) != os.path.join(path, METADATA)) / 1e6


def lambdas_text(config: dict) -> str:
    """A model's lambda, or a slimmable model's lambdas (widest first)."""
    return f"{config['lmbda']:g}" if "lmbda" in config else " / ".join(f"{v:.3g}" for v in config["lambdas"])


def shipped_table(summary: dict) -> list[str]:
    """One row per shipped model: how it was trained and where it lands on Kodak in this run."""
    lines = ["", "### Shipped models", "",
             "Steps and wall time of the model's own last stage; *with donors* adds the stages it was "
             "warm-started from.", "",
             "| model | lambda | N | decoder | steps | wall time | with donors | frozen | warm start from | data "
             "| Kodak bpp | PSNR | MS-SSIM |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    models = zoo.list_models()
    runs = {}
    for m in models:
        t, c = m["training"], m["config"]
        stages = zoo.training_stages(m)
        runs.update({s["workdir"]: s for s in stages})
        point = summary["codecs"].get(m["name"], {})
        default = " (default)" if m["name"] == zoo.default_model() else ""
        lines.append(
            f"| {m['name']}{default} | {lambdas_text(c)} | {c.get('num_filters', '')} | {c.get('decoder', '-')} | "
            f"{t['steps']:,} | {t['wall_time_s'] / 60:.0f} min | {sum(s['steps'] for s in stages):,} steps, "
            f"{sum(s['wall_time_s'] for s in stages) / 60:.0f} min | {', '.join(t.get('freeze') or []) or '-'} | "
            f"{t.get('init_from') or '-'} | {t['data']} | {fmt(point.get('bpp'), '.4f')} | "
            f"{fmt(point.get('psnr'), '.2f')} | {fmt(point.get('ms_ssim'), '.4f')} |")
    total = sum(s["wall_time_s"] for s in runs.values())
    device = models[0]["training"]["device"] if models else "-"
    lines += ["", f"Total training cost of the shipped models: {len(runs)} training stages, "
                  f"{sum(s['steps'] for s in runs.values()):,} steps, {total / 3600:.1f} h wall time on {device} "
                  f"(each stage counted once, however many models descend from it)."]
    return lines


def target_psnr_check(image_paths: list[str], out_dir: str, target: float = 32.0) -> list[str]:
    """`--target-psnr` on every image: the rung picked must reach the target and be the cheapest that
    does, by the separate-process PSNRs of the evaluation (per_image.csv)."""
    from tfcomp.codecs import ladder

    rungs = ladder.ladder(None)
    measured = {}
    with open(os.path.join(out_dir, "per_image.csv")) as f:
        for row in csv.DictReader(f):
            measured[(row["image"], row["codec"])] = float(row["psnr"])
    counts, failures, bpps = {}, [], []
    for path in tqdm(image_paths, desc=f"--target-psnr {target:g}", unit="image"):
        stem = os.path.splitext(os.path.basename(path))[0]
        image, _, _ = read_image(path)
        choice = ladder.choose(rungs, image, target_psnr=target)
        psnrs = [measured.get((stem, r.name)) for r in rungs]
        reaching = [i for i, q in enumerate(psnrs) if q is not None and q >= target]
        expected = rungs[reaching[0]] if reaching else rungs[-1]
        decoded_psnr = metrics.psnr(image, choice.codec.decode(choice.data))
        ok = choice.codec.name == expected.name and (decoded_psnr >= target or not reaching)
        counts[choice.codec.name] = counts.get(choice.codec.name, 0) + 1
        bpps.append(choice.bpp)
        if not ok:
            failures.append(f"{stem} (picked {choice.codec.name}, expected {expected.name}, {decoded_psnr:.2f} dB)")
        elif not reaching:
            failures.append(f"{stem}: no rung reaches {target:g} dB, top rung used ({decoded_psnr:.2f} dB, warned)")
    lines = ["", f"### `tfcomp compress --target-psnr {target:g}` on every image", "",
             f"Rungs picked ({rungs[0].family} ladder): " +
             ", ".join(f"{name} x{n}" for name, n in sorted(counts.items())) +
             f"; mean {np.mean(bpps):.3f} bpp. Every picked file reaches {target:g} dB and its rung is the "
             f"cheapest that does (checked against the evaluation's separate-process PSNRs): "
             f"{'yes' if not any('expected' in f for f in failures) else 'NO'}."]
    lines += [f"- {f}" for f in failures]
    return lines


def interleaved_decode_times(names: list[str], image_paths: list[str], out_dir: str, rounds: int = 10,
                             repeats: int = 20) -> dict[str, float]:
    """Median decode time (entropy decoding included) of each model's file of each image, the models timed
    in interleaved rounds (a slow spell of the machine, or the threads one model leaves spinning, cannot
    favour another); the median over the images."""
    per_image: dict[str, list[float]] = {name: [] for name in names}
    codecs = {name: registry.codec(name) for name in names}
    for path in image_paths:
        stem = os.path.splitext(os.path.basename(path))[0]
        calls = {}
        for name, codec in codecs.items():
            with open(os.path.join(out_dir, "files", f"{stem}.{name}.bin"), "rb") as f:
                data = f.read()
            calls[name] = lambda codec=codec, data=data: codec.decode(data)
        for name, seconds in time_interleaved(calls, warmup=2, repeats=repeats, rounds=rounds).items():
            per_image[name].append(seconds)
    return {name: float(np.median(times)) for name, times in per_image.items()}


def decoder_table(summary: dict, out_dir: str, timing_paths: list[str] | None = None) -> list[str]:
    """Seed 002's table for our bls2017 models: per decoder variant, width N and lambda, quality, rate, decode
    time, the deltas against the baseline decoder of the same N and lambda and at equal rate (baseline ladder).
    With timing_paths, decode times are measured again for the table's models alone, interleaved."""
    rows = []
    for m in zoo.list_models():
        if m["architecture"] != "bls2017" or m["name"] not in summary["codecs"]:
            continue
        point = summary["codecs"][m["name"]]
        rows.append(dict(decoder=m["config"]["decoder"], lmbda=m["config"]["lmbda"], n=m["config"]["num_filters"],
                         family=m.get("family", m["architecture"]), name=m["name"],
                         params=m["parameters"]["synthesis"], size=_size_mb(m["path"]), bpp=point["bpp"],
                         psnr=point["psnr"],
                         decode=point.get("timing", {}).get("decode", math.nan),
                         synthesis=point.get("timing", {}).get("synthesis", math.nan)))
    # A variant is compared with the baseline decoder trained at its width and lambda; the other rungs have
    # no lighter decoder to compare.
    with_variants = {(r["lmbda"], r["n"]) for r in rows if r["decoder"] != "baseline"}
    if with_variants:
        rows = [r for r in rows if (r["lmbda"], r["n"]) in with_variants]
    if timing_paths:
        times = interleaved_decode_times([r["name"] for r in rows], timing_paths, out_dir)
        for r in rows:
            r["decode"] = times[r["name"]]
    baseline = {(r["lmbda"], r["n"]): r for r in rows if r["decoder"] == "baseline"}
    over_ladder = gains_vs(summary["curves"], "bls2017")  # PSNR over the baseline ladder at the same bpp
    lines = ["", "### Lighter decoders (seed 002)", "",
             "| decoder | N | lambda | model | decoder params | SavedModel MB | bpp | PSNR | decode s (median, entropy "
             "decoding included, models interleaved) | synthesis s (median, timed apart) | dPSNR vs baseline (equal "
             "N, lambda) | bpp vs baseline | dPSNR vs baseline ladder (equal bpp) | decode time vs baseline |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: (r["n"], r["decoder"] != "baseline", r["decoder"], r["lmbda"])):
        base = baseline.get((r["lmbda"], r["n"]))
        r["delta"] = r["psnr"] - base["psnr"] if base else math.nan
        r["ratio"] = r["decode"] / base["decode"] if base else math.nan
        rate = 100 * (r["bpp"] / base["bpp"] - 1) if base else math.nan
        at_rate = 0.0 if r["family"] == "bls2017" else over_ladder.get(r["name"], math.nan)  # rungs lie on it
        lines.append(f"| {r['decoder']} | {r['n']} | {r['lmbda']:g} | {r['name']} | {r['params']:,} | "
                     f"{r['size']:.2f} | {r['bpp']:.4f} | {r['psnr']:.2f} | {fmt(r['decode'], '.3f')} | "
                     f"{fmt(r['synthesis'], '.3f')} | {fmt(r['delta'], '+.2f')} | {fmt(rate, '+.1f')}% | "
                     f"{fmt(at_rate, '+.2f')} | {fmt(r['ratio'], '.2f')}x |")
    if not any(r["decoder"] != "baseline" for r in rows):
        return lines + ["", "No lighter-decoder models are shipped yet: only the baseline row is measured."]
    lines += ["", _decoder_verdict(rows)]
    if os.path.exists(os.path.join(out_dir, "rd_decoders.png")):
        lines += ["", f"![lighter decoders]({os.path.relpath(os.path.join(out_dir, 'rd_decoders.png'), REPO)})"]
    return lines


def _decoder_verdict(rows: list[dict]) -> str:
    """Which variants (per width N) keep seed 002's trade at every lambda: at most 0.6x the baseline's decode
    time for at most 0.2 dB less PSNR at equal lambda."""
    variants = {}
    for r in rows:
        if r["decoder"] != "baseline":
            variants.setdefault(f"{r['decoder']} (N={r['n']})", []).append(r)
    worst = {d: (max(r["ratio"] for r in rs), min(r["delta"] for r in rs)) for d, rs in variants.items()}
    meeting = [d for d, (ratio, delta) in worst.items() if ratio <= 0.6 and delta >= -0.2]
    fastest = min(worst, key=lambda d: worst[d][0])
    text = "; ".join(f"{d} {ratio:.2f}x, {delta:+.2f} dB" for d, (ratio, delta) in sorted(worst.items()))
    verdict = (f"Variants at most 0.6x the baseline's decode time with at most 0.2 dB less PSNR at every lambda: "
               f"{', '.join(meeting) if meeting else 'none'}.")
    return (f"Slowest decode time ratio and largest PSNR loss over the lambdas, per variant: {text}. {verdict} "
            f"Fastest variant: {fastest}.")


def visual_comparisons(image_paths: list[str], out_dir: str) -> list[str]:
    """Side-by-side crops at matched size (original, default model, JPEG, WebP) for a few images."""
    codec = LearnedCodec(zoo.resolve(None))
    lines = ["", "### Visual comparison at matched file size", ""]
    for path in image_paths:
        stem = os.path.splitext(os.path.basename(path))[0]
        if stem not in VISUAL_IMAGES:
            continue
        image, _, _ = read_image(path)
        data = codec.encode(image)
        height, width = image.shape[:2]
        panels = [("original", image), (_label(codec.name, data, image, codec.decode(data)), codec.decode(data))]
        for family in ("jpeg", "webp"):
            classic, classic_data = PillowCodec.at_least(family, image, len(data))
            decoded = classic.decode(classic_data)
            panels.append((_label(classic.name, classic_data, image, decoded), decoded))
        target = os.path.join(out_dir, f"visual_{stem}.png")
        plots.side_by_side(panels, target, (height // 2 - 128, width // 2 - 128, 256))
        lines.append(f"![{stem}]({os.path.relpath(target, REPO)})")
    return lines


def _label(name: str, data: bytes, original: np.ndarray, decoded: np.ndarray) -> str:
    bpp = metrics.bits_per_pixel(len(data), *original.shape[:2])
    return f"{name}\n{len(data)} B, {bpp:.3f} bpp, {metrics.psnr(original, decoded):.2f} dB"


def reproduce(image_paths: list[str], out_dir: str, readme: str | None, timing_images: int = 2,
              warmup: int = 2, repeats: int = 5) -> dict:
    """Runs everything and rewrites the README's results section (unless readme is None)."""
    os.makedirs(out_dir, exist_ok=True)
    families = shipped_families() + list(registry.BASELINE_FAMILIES) + list(registry.CLASSIC_FAMILIES)
    summary = evaluate(families, image_paths, out_dir, timing_images, warmup, repeats)
    timing_paths = image_paths[:timing_images]
    extra = (shipped_table(summary) + decoder_table(summary, out_dir, timing_paths)
             + slimcae_section(summary, image_paths, out_dir) + target_psnr_check(image_paths, out_dir)
             + visual_comparisons(image_paths, out_dir) + systems_section(summary, image_paths, out_dir))
    if readme:
        replace_section(readme, results_markdown(summary, out_dir, extra))
    return summary
