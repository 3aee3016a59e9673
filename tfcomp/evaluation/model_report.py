"""Per-model facts of the reproduction run: each model's training record and size as the run records them, and
the two tables written from that record alone: the models' training cost and the decoder-variant study (the
lighter synthesis transforms for the Ballé factorized model)."""
from __future__ import annotations

import math
import os

from tfcomp import zoo
from tfcomp.evaluation import bdrate
from tfcomp.report import fmt, table

# A variant keeps the faster-decoder trade when it decodes in at most this fraction of the baseline's time
# and loses at most this much PSNR at the same lambda and width.
FAST_RATIO, SMALL_LOSS_DB = 0.6, 0.2


def _size_mb(path: str) -> float:
    # metadata.json is left out: the run rewrites it (the Kodak point), and the size must not depend on that.
    return sum(os.path.getsize(os.path.join(root, f)) for root, _, files in os.walk(path) for f in files
               if os.path.join(root, f) != os.path.join(path, zoo.METADATA)) / 1e6


def lambdas_text(config: dict) -> str:
    """A model's lambda, or a slimmable or variable-rate model's lambdas (widest or lowest first)."""
    return f"{config['lmbda']:g}" if "lmbda" in config else " / ".join(f"{v:.3g}" for v in config["lambdas"])


def model_records() -> dict[str, dict]:
    """What the results tables need of every shipped model, recorded with the run, so that they can be written
    again from the record alone and a model that leaves the zoo keeps its rows."""
    records = {}
    for m in zoo.list_models():
        training, config = m["training"], m["config"]
        records[m["name"]] = dict(
            shipped=True, family=m.get("family", m["architecture"]), architecture=m["architecture"],
            version=zoo.version(m), decoder=config.get("decoder"), lmbda=config.get("lmbda"),
            lambdas=lambdas_text(config), num_filters=config.get("num_filters") or max(config.get("widths") or [0]),
            synthesis_parameters=m["parameters"]["synthesis"], size_mb=_size_mb(m["path"]),
            steps=training["steps"], wall_time_s=training["wall_time_s"], freeze=training.get("freeze") or [],
            init_from=training.get("init_from"), data=training["data"], device=training["device"],
            stages=zoo.training_stages(m))
    return records


def training_table(summary: dict) -> list[str]:
    """One row per recorded model: how it was trained and where it lands on Kodak; the total cost of the
    shipped ones."""
    report, points = summary["report"], summary["codecs"]
    rows, stages = [], {}
    for name, m in sorted(report["models"].items()):
        point = points.get(name, {})
        mark = " (default)" if name == report.get("default_model") else "" if m["shipped"] else " (not shipped)"
        if m["shipped"]:
            stages.update({s["workdir"]: s for s in m["stages"]})
        rows.append([f"{name}{mark}", m["version"], m["lambdas"], m["num_filters"], m["decoder"] or "-",
                     f"{m['steps']:,}", f"{m['wall_time_s'] / 60:.0f} min",
                     f"{sum(s['steps'] for s in m['stages']):,} steps, "
                     f"{sum(s['wall_time_s'] for s in m['stages']) / 60:.0f} min",
                     ", ".join(m["freeze"]) or "-", m["init_from"] or "-", m["data"], fmt(point.get("bpp"), ".4f"),
                     fmt(point.get("psnr"), ".2f"), fmt(point.get("ms_ssim"), ".4f")])
    devices = sorted({m["device"] for m in report["models"].values() if m["shipped"]})
    total = sum(s["wall_time_s"] for s in stages.values())
    return (["Steps and wall time of each model's own last stage; *with donors* adds the stages it was "
             "warm-started from. A slimmable model's Kodak point is per width (below).", ""]
            + table(["model", "version", "lambda", "N", "decoder", "steps", "wall time", "with donors", "frozen",
                     "warm start from", "data", "Kodak bpp", "PSNR", "MS-SSIM"], rows)
            + ["", f"Total training cost of the shipped models: {len(stages)} training stages, "
                   f"{sum(s['steps'] for s in stages.values()):,} steps, {total / 3600:.1f} h wall time on "
                   f"{', '.join(devices) or '-'} (each stage counted once, however many models descend from it)."])


def decoder_rows(summary: dict) -> list[dict]:
    """The bls2017 models measured in the run, for the decoder-variant table: at each width and lambda that has
    a lighter decoder, the baseline and its variants."""
    report = summary["report"]
    times = report.get("decoder_decode_s", {})
    rows = []
    for name, m in report["models"].items():
        point = summary["codecs"].get(name)
        if m["architecture"] != "bls2017" or point is None:
            continue
        timing = point.get("timing", {})
        rows.append(dict(name=name, decoder=m["decoder"], lmbda=m["lmbda"], n=m["num_filters"], family=m["family"],
                         params=m["synthesis_parameters"], size=m["size_mb"], bpp=point["bpp"], psnr=point["psnr"],
                         decode=times.get(name, timing.get("decode", math.nan)),
                         synthesis=timing.get("synthesis", math.nan)))
    with_variants = {(r["lmbda"], r["n"]) for r in rows if r["decoder"] != "baseline"}
    return [r for r in rows if (r["lmbda"], r["n"]) in with_variants]


def decoder_table(summary: dict, figure: str | None = None) -> list[str]:
    """Per decoder variant, width N and lambda: size, rate, quality, decode time, and the differences from the
    baseline decoder of the same N and lambda and from the baseline ladder at the same rate."""
    rows = decoder_rows(summary)
    if not rows:
        return ["No lighter-decoder models were measured."]
    baseline = {(r["lmbda"], r["n"]): r for r in rows if r["decoder"] == "baseline"}
    gains = bdrate.gains_vs(summary["curves"], "bls2017")  # PSNR over the baseline ladder at the same bpp
    lines = []
    for r in sorted(rows, key=lambda r: (r["n"], r["decoder"] != "baseline", r["decoder"], r["lmbda"])):
        base = baseline.get((r["lmbda"], r["n"]))
        r["delta"] = r["psnr"] - base["psnr"] if base else math.nan
        r["ratio"] = r["decode"] / base["decode"] if base else math.nan
        rate = 100 * (r["bpp"] / base["bpp"] - 1) if base else math.nan
        at_rate = 0.0 if r["family"] == "bls2017" else gains.get(r["name"], math.nan)  # rungs lie on the ladder
        lines.append([r["decoder"], r["n"], f"{r['lmbda']:g}", r["name"], f"{r['params']:,}", f"{r['size']:.2f}",
                      f"{r['bpp']:.4f}", f"{r['psnr']:.2f}", fmt(r["decode"], ".3f"), fmt(r["synthesis"], ".3f"),
                      fmt(r["delta"], "+.2f"), f"{fmt(rate, '+.1f')}%", fmt(at_rate, "+.2f"),
                      f"{fmt(r['ratio'], '.2f')}x"])
    out = table(["decoder", "N", "lambda", "model", "decoder params", "SavedModel MB", "bpp", "PSNR",
                 "decode s (median, entropy decoding included, models interleaved)",
                 "synthesis s (median, timed apart)", "dPSNR vs baseline (equal N, lambda)", "bpp vs baseline",
                 "dPSNR vs baseline ladder (equal bpp)", "decode time vs baseline"], lines)
    if any(r["decoder"] != "baseline" for r in rows):
        out += ["", decoder_verdict(rows)]
    return out + (["", f"![lighter decoders]({figure})"] if figure else [])


def decoder_verdict(rows: list[dict]) -> str:
    """Which variants (per width N) keep the faster-decoder trade at every lambda: at most FAST_RATIO of the
    baseline's decode time for at most SMALL_LOSS_DB less PSNR at equal lambda."""
    variants = {}
    for r in rows:
        if r["decoder"] != "baseline":
            variants.setdefault(f"{r['decoder']} (N={r['n']})", []).append(r)
    worst = {d: (max(r["ratio"] for r in rs), min(r["delta"] for r in rs)) for d, rs in variants.items()}
    meeting = [d for d, (ratio, delta) in worst.items() if ratio <= FAST_RATIO and delta >= -SMALL_LOSS_DB]
    fastest = min(worst, key=lambda d: worst[d][0])
    text = "; ".join(f"{d} {ratio:.2f}x, {delta:+.2f} dB" for d, (ratio, delta) in sorted(worst.items()))
    return (f"Slowest decode time ratio and largest PSNR loss over the lambdas, per variant: {text}. Variants at "
            f"most {FAST_RATIO}x the baseline's decode time with at most {SMALL_LOSS_DB} dB less PSNR at every "
            f"lambda: {', '.join(meeting) if meeting else 'none'}. Fastest variant: {fastest}.")
