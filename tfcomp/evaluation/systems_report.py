"""The other systems of the source documents (docs/systems.md) beside the numbers their sources report and JPEG
at equal size: the stacked denoising autoencoder (SDAE), the residual autoencoder with a dense bottleneck
(resae), the shallow per-image autoencoders, and the PCA/KLT block transform.

`sdae` and `klt` are measured on Kodak in the reproduction run itself (registry.BASELINE_FAMILIES). `resae`
overfits an image set and `shallow` trains a network per image (hours on 2 cores), so their rows come from the
result files their own measurements wrote (results/resae, results/shallow), named in each row. What needs the
images (JPEG at equal size) is computed with the run and recorded in its summary; the table is written from
that record."""
from __future__ import annotations

import csv
import json
import os

import numpy as np

from tfcomp.codecs.classic import PillowCodec
from tfcomp.codecs.sdae import load_model, model_path
from tfcomp.data.images import read_image
from tfcomp.evaluation import metrics
from tfcomp.report import table

SDAE_TILE_PIXELS = 128 * 128
# The SDAE source's README, per 128x128 image: compressed bytes, "compression rate" against PNG, PSNR, SSIM;
# and its training length: 100 epochs of 30,000 Flickr images at batch 16.
SDAE_SOURCE = dict(tile_bytes=(3070, 3491), rate_vs_png=0.8992, psnr=28.5, ssim=0.82, steps=100 * 30000 // 16)
RESAE_RESULTS, SHALLOW_RESULTS = "results/resae/resae.json", "results/shallow/shallow.json"


def systems_data(summary: dict, image_paths: list[str], out_dir: str, kodak: str) -> dict:
    """What the systems table needs from the images: the points compared, and JPEG at each one's file sizes."""
    data = {}
    points = {p["codec"]: p for f in ("sdae", "sdae-deflate") for p in summary["curves"].get(f, [])}
    deflate = points.get("sdae-deflate")
    if deflate is not None:
        near = [p for name, p in points.items() if name != "sdae-deflate" and p["psnr"] >= deflate["psnr"] - 0.05]
        smallest = min(near, key=lambda p: p["bpp"])["codec"] if near else None
        training = load_model(model_path())[1]["training"]
        data["sdae"] = dict(
            smallest=smallest, png_mean_bytes=float(np.mean([os.path.getsize(p) for p in image_paths])),
            image_shape=list(read_image(image_paths[0])[0].shape[:2]),
            training={k: training[k] for k in ("steps", "wall_time_s", "device")},
            jpeg={name: jpeg_at_equal_size(out_dir, name, image_paths) for name in ("sdae-deflate", smallest) if name})
    klt = summary["curves"].get("klt", [])
    if klt:
        point = min(klt, key=lambda p: abs(np.log(p["bpp"] / 0.5)))["codec"]
        data["klt"] = dict(point=point, jpeg=jpeg_at_equal_size(out_dir, point, image_paths))
    shallow = _read_json(SHALLOW_RESULTS)
    if shallow:
        data["shallow_jpeg"] = {name: _shallow_jpeg(shallow["rows"], name, kodak)
                                for name in shallow["means"] if name.startswith("shallow")}
    return data


def jpeg_at_equal_size(out_dir: str, codec: str, image_paths: list[str]) -> dict:
    """Mean quality, bpp, PSNR, SSIM and MS-SSIM of JPEG files at least as large as codec's files in the run."""
    with open(os.path.join(out_dir, "per_image.csv")) as f:
        sizes = {row["image"]: int(row["bytes"]) for row in csv.DictReader(f) if row["codec"] == codec}
    stems = {os.path.splitext(os.path.basename(path))[0]: path for path in image_paths}
    return _mean_jpeg_matching([(stems[stem], size) for stem, size in sizes.items() if stem in stems])


def _mean_jpeg_matching(files: list[tuple[str, int]]) -> dict:
    """Mean over (image path, bytes) pairs of the JPEG file of the image at least that large (empty for none)."""
    results = []
    for path, target_bytes in files:
        image = read_image(path)[0]
        codec, data = PillowCodec.at_least("jpeg", image, target_bytes)
        decoded = codec.decode(data)
        ssim, ms_ssim = metrics.ssim_and_ms_ssim(image, decoded)
        height, width = image.shape[:2]
        results.append(dict(quality=codec.setting, bytes=len(data), psnr=metrics.psnr(image, decoded),
                            ratio=metrics.compression_ratio(len(data), height, width),
                            bpp=metrics.bits_per_pixel(len(data), height, width), ssim=ssim, ms_ssim=ms_ssim))
    return {k: float(np.mean([r[k] for r in results])) for k in results[0]} if results else {}


def _shallow_jpeg(rows: list[dict], codec: str, kodak: str) -> dict:
    """JPEG at each of codec's file sizes on the same Kodak images, averaged (empty without the images)."""
    files = [(os.path.join(kodak, r["image"]), r["bytes"]) for r in rows if r["codec"] == codec]
    return _mean_jpeg_matching([(path, size) for path, size in files if os.path.exists(path)])


def _read_json(relative: str) -> dict | None:
    if not os.path.exists(relative):
        return None
    with open(relative) as f:
        return json.load(f)


def _jpeg_text(j: dict) -> str:
    return f"q{j['quality']:.0f}: {j['bpp']:.3f} bpp, {j['psnr']:.2f} dB, SSIM {j['ssim']:.3f}" if j else "–"


def systems_section(summary: dict) -> list[str]:
    """Markdown: one table row per system and rate point, then one sentence per system on the differences."""
    data = summary["report"].get("systems", {})
    rows, sentences = [], []
    for part in (_sdae(summary, data.get("sdae")), _klt(summary, data.get("klt")), _resae(),
                 _shallow(data.get("shallow_jpeg", {}))):
        rows += part[0]
        sentences += part[1]
    return (["Each system beside what its source reports and beside JPEG (Pillow) at the same file size on the "
             "same images (the lowest quality whose file is not smaller). `sdae` and `klt` are measured in this "
             "run on Kodak; `resae` and `shallow` train on the data they compress (hours here), so their rows "
             "are read from the result files their measurements wrote. Ratios follow each source: the residual "
             "autoencoder's is file bytes (its decoder's share included) over raw RGB bytes, lower is smaller; "
             "the shallow autoencoders' is raw RGB bytes over file bytes, higher is smaller.", ""]
            + table(["system", "rate point", "its source reports", "ours", "JPEG at equal size", "from"], rows)
            + [""] + [f"- {s}" for s in sentences])


def _sdae(summary: dict, data: dict | None) -> tuple[list, list[str]]:
    """The SDAE: its source's Deflate coding and our smallest entropy-coded point at the same PSNR."""
    points = {p["codec"]: p for f in ("sdae", "sdae-deflate") for p in summary["curves"].get(f, [])}
    deflate = points.get("sdae-deflate")
    if deflate is None or data is None:
        return [], ["SDAE: not in this run (its model file is missing)."]
    height, width = data["image_shape"]
    source = (f"{SDAE_SOURCE['tile_bytes'][0]:,}-{SDAE_SOURCE['tile_bytes'][1]:,} B per 128x128 tile, rate vs PNG "
              f"{SDAE_SOURCE['rate_vs_png']:.2%}, {SDAE_SOURCE['psnr']} dB, SSIM {SDAE_SOURCE['ssim']}")

    def ours(p: dict) -> str:
        rate = 1 - p["bpp"] * height * width / 8 / data["png_mean_bytes"]
        return (f"{p['bpp'] * SDAE_TILE_PIXELS / 8:,.0f} B per tile, rate vs PNG {rate:.2%}, {p['psnr']:.2f} dB, "
                f"SSIM {p['ssim']:.3f}")

    jpeg = data["jpeg"].get("sdae-deflate", {})
    rows = [["SDAE, its source's coding", "sdae-deflate", source, ours(deflate), _jpeg_text(jpeg), "this run"]]
    sentences = []
    smallest = points.get(data.get("smallest"))
    if smallest:
        rows.append(["SDAE, our entropy coding", smallest["codec"], "–", ours(smallest),
                     _jpeg_text(data["jpeg"].get(smallest["codec"], {})), "this run"])
        sentences.append(f"SDAE: at Deflate's PSNR our learned entropy model ({smallest['codec']}) needs "
                         f"{1 - smallest['bpp'] / deflate['bpp']:.0%} fewer bytes than its source's coding "
                         f"(rounded text latents, Deflate).")
    training = data["training"]
    sentences.append(
        f"SDAE: our network reconstructs at {deflate['psnr']:.1f} dB against its source's {SDAE_SOURCE['psnr']} dB "
        f"because it trained {training['steps']:,} steps ({training['wall_time_s'] / 3600:.1f} h on "
        f"{training['device']}) against the source's {SDAE_SOURCE['steps']:,} (100 epochs of 30,000 images), and "
        f"JPEG at the same size is {jpeg.get('psnr', float('nan')) - deflate['psnr']:.1f} dB better; the source's "
        f"tables that put it ahead of JPEG are not backed by its code.")
    return rows, sentences


def _klt(summary: dict, data: dict | None) -> tuple[list, list[str]]:
    """PCA/KLT: no source measures it; the point nearest 0.5 bpp and its BD-rate against JPEG."""
    point = next((p for p in summary["curves"].get("klt", []) if data and p["codec"] == data["point"]), None)
    if point is None:
        return [], []
    jpeg = data["jpeg"]
    bd = summary["bd_rate"].get("klt", {}).get("jpeg", {}).get("psnr", float("nan"))
    rows = [["PCA/KLT (named by the sources as a baseline)", point["codec"], "– (no source measures it)",
             f"{point['bpp']:.3f} bpp, {point['psnr']:.2f} dB, SSIM {point['ssim']:.3f}", _jpeg_text(jpeg),
             "this run"]]
    return rows, [f"PCA/KLT: a transform learned on 8x8 RGB blocks with entropy-coded coefficients is "
                  f"{bd:+.1f}% BD-rate (PSNR) against JPEG over the whole curve (it codes colour jointly and "
                  f"predicts the DC-like coefficients); at {point['bpp']:.2f} bpp it is "
                  f"{point['psnr'] - jpeg.get('psnr', float('nan')):+.2f} dB from JPEG at the same size."]


def _resae() -> tuple[list, list[str]]:
    """The residual autoencoder: compression ratio (decoder included) and SSIM per configuration."""
    data = _read_json(RESAE_RESULTS)
    if data is None:
        return [], [f"Residual AE: no `{RESAE_RESULTS}` (train with `tfcomp train -a resae`, then measure with "
                    "`.venv/bin/python -m tfcomp.evaluation.resae_eval`)."]
    source_numbers = data["summary"]["source"]
    rows, sentences = [], []
    for name, c in data["summary"]["configs"].items():
        raw, denoised = c["test"]["-int8-raw"], c["test"].get("-int8", {})
        s = source_numbers.get(name, {})
        source = (f"ratio {s['ratio']} float / {s['ratio_int8']} int8, SSIM {s['ssim_int8']} -> "
                  f"{s.get('ssim_denoised', '–')} denoised" if "ratio" in s else "–")
        jpeg = max((j for j in c["jpeg_test"] if j["ratio"] <= c["ratio_int8"]), key=lambda j: j["ratio"])
        ours = (f"ratio {c['ratio_float32']:.3f} float / {c['ratio_int8']:.3f} int8, {raw['psnr']:.2f} dB, "
                f"SSIM {raw['ssim']:.3f} -> {denoised.get('ssim', float('nan')):.3f} denoised "
                f"({c['epochs']} epochs{', converged' if c['converged'] else ', not converged'})")
        rows.append([f"Residual AE, {name}", f"resae-{name}-int8", source, ours,
                     f"q{jpeg['quality']}: ratio {jpeg['ratio']:.3f}, {jpeg['psnr']:.2f} dB, SSIM {jpeg['ssim']:.3f}",
                     f"`{RESAE_RESULTS}`"])
        sentences.append(
            f"Residual AE {name}: the stored decoder dominates the ratio ({c['ratio_int8']:.3f} with int8; its "
            f"source: {s.get('ratio_int8', '–')}), so JPEG q{jpeg['quality']} with a smaller file is "
            f"{jpeg['psnr'] - raw['psnr']:.1f} dB better; the denoiser moves held-out SSIM by "
            f"{denoised.get('ssim', float('nan')) - raw['ssim']:+.4f}; JPEG is ahead on every measure, as the "
            f"source found.")
    return rows, sentences


def _shallow(jpeg_rows: dict) -> tuple[list, list[str]]:
    """The shallow per-image autoencoders: ratio and MS-SSIM per variant and code length."""
    data = _read_json(SHALLOW_RESULTS)
    if data is None:
        return [], [f"Shallow per-image AE: no `{SHALLOW_RESULTS}` (measure with "
                    "`.venv/bin/python -m tfcomp.evaluation.shallow_eval`)."]
    rows = []
    names = [name for name in data["means"] if name.startswith("shallow")]
    for name in names:
        m, j = data["means"][name], jpeg_rows.get(name, {})
        jpeg = f"ratio {j['ratio']:.2f}, {j['psnr']:.2f} dB, MS-SSIM {j['ms_ssim']:.4f}" if j else "–"
        rows.append(["Shallow AE", name, data["source"].get(name, "–"),
                     f"ratio {m['ratio']:.2f} (f32 {m['ratio_float32']:.2f}), {m['psnr']:.2f} dB, "
                     f"MS-SSIM {m['ms_ssim']:.4f}", jpeg,
                     f"`{SHALLOW_RESULTS}` ({len(data['settings']['image_names'])} Kodak images)"])
    q90 = data["means"].get("jpeg-q90")
    best = max(names, key=lambda n: data["means"][n]["ms_ssim"])
    m = data["means"][best]
    sentence = (f"Shallow AE: our best, {best}, reaches ratio {m['ratio']:.2f} ({m['ratio_float32']:.2f} with its "
                f"source's float32 storage) at MS-SSIM {m['ms_ssim']:.4f} after {data['settings']['epochs']} epochs "
                f"(its source: {data['source'].get(best, '–')}, 300 epochs on 640x640 images); JPEG at the same "
                f"size reaches MS-SSIM {jpeg_rows.get(best, {}).get('ms_ssim', float('nan')):.4f}"
                + (f" and JPEG q90 ratio {q90['ratio']:.2f} at {q90['ms_ssim']:.4f}" if q90 else "")
                + ": the stored decoder makes every file large, as the source's own JPEG q90 row shows.")
    return rows, [sentence]
