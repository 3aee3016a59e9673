"""Prunes the decoders of a bls2017 ladder and fine-tunes them, then measures every setting on Kodak.

Settings: TFMOT magnitude pruning to 50/75/90% of the weights (polynomial schedule over the first half of
fine-tuning), 2:4 structured sparsity, and channel pruning to 48 and 32 of the 64 hidden channels. Each is
fine-tuned decoder-only (the encoder and entropy model are fixed, so files keep their bits), then
stripped. Reported per setting and model: non-zero parameters, gzip-compressed TFLite size, Kodak bpp /
PSNR / MS-SSIM, TF and TFLite (float32, XNNPACK, 2 threads) synthesis time on kodim01; per setting the
BD-rate against the unpruned decoders over the ladder.

Results go to results/deployment/pruning.{json,md} (decoder weights to build/pruning/); finished
(model, setting) pairs are kept in the JSON and skipped on a rerun, so an interrupted run resumes.
Decode times are measured in a second pass, which should run with nothing else busy:

    .venv/bin/python -m tfcomp.export.prune_study [--models bls2017-mse-1,bls2017-mse-2,bls2017-mse-3] [--steps 600]
    .venv/bin/python -m tfcomp.export.prune_study --time
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import time

import numpy as np
import tensorflow as tf
import tensorflow_model_optimization as tfmot
from tqdm import tqdm


from tfcomp import report, zoo
from tfcomp.codecs.learned import LearnedCodec
from tfcomp.data.images import read_image
from tfcomp.data.kodak import kodak_images
from tfcomp.errors import TfcompError, run_program
from tfcomp.evaluation.bdrate import bd_rate
from tfcomp.evaluation.metrics import bits_per_pixel, ms_ssim, psnr
from tfcomp.evaluation.timing import time_call
from tfcomp.export import finetune, plain_decoder, pruning, tflite, tflite_export

RESULTS = os.path.join("results", "deployment")
WEIGHTS = os.path.join("build", "pruning")
PROGRAM = "python -m tfcomp.export.prune_study"
SETTINGS = {
    "unpruned": {},
    "unpruned-finetuned": {"finetune": True},  # the same fine-tuning without pruning: what pruning itself costs
    "magnitude-50": {"sparsity": 0.5},
    "magnitude-75": {"sparsity": 0.75},
    "magnitude-90": {"sparsity": 0.9},
    "2:4": {"m_by_n": (2, 4)},
    "channels-48": {"keep": 48},
    "channels-40": {"keep": 40},
    "channels-32": {"keep": 32},
}


def build(exported, setting: dict, pairs, steps: int, lr: float) -> tuple[tf.keras.Model, dict]:
    """The decoder of one setting, fine-tuned (none for 'unpruned'), as a batch-1 plain Keras model."""
    layers = decoder_layers(exported, setting)
    trainable = plain_decoder.plain_synthesis(layers, exported.offset, batch_size=None)
    record = {"steps": 0}
    if "sparsity" in setting or "m_by_n" in setting:
        pruned = pruning.with_magnitude_pruning(trainable, setting.get("sparsity"), setting.get("m_by_n"),
                                                begin=0, end=steps // 2)
        record = finetune.finetune(pruned, pairs, steps, lr, callbacks=[tfmot.sparsity.keras.UpdatePruningStep()])
        trainable = pruning.strip(pruned)
    elif "keep" in setting or setting.get("finetune"):
        record = finetune.finetune(trainable, pairs, steps, lr)
    decoder = plain_decoder.plain_synthesis(layers, exported.offset)
    decoder.set_weights(trainable.get_weights())
    return decoder, record


def quality(decoder: tf.keras.Model, kodak: list[dict]) -> dict:
    """Kodak quality and sizes of one decoder."""
    run = tf.function(decoder)
    scores = {"psnr": [], "ms_ssim": []}
    for item in kodak:
        h, w = item["image"].shape[:2]
        pixels = np.clip(np.round(run(item["symbols"]).numpy()[0, :h, :w]), 0, 255).astype(np.uint8)
        scores["psnr"].append(psnr(item["image"], pixels))
        scores["ms_ssim"].append(ms_ssim(item["image"], pixels))
    return {
        "psnr": float(np.mean(scores["psnr"])), "ms_ssim": float(np.mean(scores["ms_ssim"])),
        "nonzero_parameters": pruning.nonzero_weights(decoder),
        "tflite_gzip_bytes": len(gzip.compress(tflite.convert(decoder, "float32"), 9)),
    }


def timing(decoder: tf.keras.Model, symbols: np.ndarray) -> dict:
    """TF and TFLite float32 synthesis time (ms, median of 10) of one decoder on one image's symbols."""
    run = tf.function(decoder)
    runner = tflite.Decoder(tflite.convert(decoder, "float32"))
    return {"tf_ms": time_call(lambda: run(symbols).numpy(), 2, 10)["median_s"] * 1e3,
            "tflite_ms": time_call(lambda: runner(symbols), 2, 10)["median_s"] * 1e3}


def decoder_layers(exported, setting: dict) -> list:
    """The plain layers (shapes) of a setting's decoder."""
    return pruning.prune_channels(exported.layers, setting["keep"]) if "keep" in setting else exported.layers


def markdown(results: dict, models: list[str]) -> list[str]:
    """Per setting: means over the ladder and the BD-rate against the unpruned decoders."""
    lines = []
    base = [results[m]["unpruned"] for m in models]
    for setting in SETTINGS:
        rows = [results[m].get(setting) for m in models]
        if any(r is None or "tflite_ms" not in r for r in rows):
            continue
        bd = "n/a (one model)" if len(models) < 2 else bd_rate(
            [r["bpp"] for r in base], [r["psnr"] for r in base], [r["bpp"] for r in rows], [r["psnr"] for r in rows])
        bd = bd if isinstance(bd, str) else "n/a (PSNR not rising with rate)" if np.isnan(bd) else f"{bd:+.1f}%"
        speedup = np.mean([b["tflite_ms"] / r["tflite_ms"] for b, r in zip(base, rows)])
        budgets = [f"{r['finetune']['steps']} ({r['finetune']['lr']:g})" if r["finetune"]["steps"] else "-"
                   for r in rows]
        budget = budgets[0] if len(set(budgets)) == 1 else " / ".join(budgets)
        lines.append([setting, budget, f"{np.mean([r['nonzero_parameters'] for r in rows]):,.0f}",
                      f"{np.mean([r['tflite_gzip_bytes'] for r in rows]) / 1024:.0f}",
                      " / ".join(f"{r['psnr']:.2f}" for r in rows), f"{np.mean([r['tf_ms'] for r in rows]):.1f}",
                      f"{np.mean([r['tflite_ms'] for r in rows]):.1f}", f"{speedup:.2f}x", bd])
    return ([f"Decoder pruning on {', '.join(models)} (Kodak, {results['images']} images; times: kodim01 synthesis, "
             "TFLite float32 with XNNPACK, 2 threads).", ""]
            + report.table(["setting", "fine-tuning steps (lr)", "non-zero params", "TFLite gzip KB",
                            "PSNR (dB) per rung", "TF ms", "TFLite ms", "TFLite speed-up", "BD-rate vs unpruned"],
                           lines))


def main(argv: list[str] | None = None) -> int:
    """Runs every (model, setting) not yet in the results file."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="bls2017-mse-1,bls2017-mse-2,bls2017-mse-3")
    parser.add_argument("--steps", type=int, default=600, help="fine-tuning steps per setting (batch 8)")
    parser.add_argument("--lr", type=float, default=1e-4, help="peak fine-tuning learning rate (cosine decay)")
    parser.add_argument("--settings", default=",".join(SETTINGS), help="comma-separated settings to run")
    parser.add_argument("--redo", action="store_true", help="rerun the chosen settings even if they have results")
    parser.add_argument("--crops", type=int, default=1024, help="training crops encoded per model")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N Kodak images")
    parser.add_argument("--time", action="store_true",
                        help="only (re)measure decode times of the finished decoders (run with nothing else busy)")
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    models = args.models.split(",")
    command = report.command_line(PROGRAM, argv)
    unknown = sorted(set(args.settings.split(",")) - set(SETTINGS))
    if unknown:
        raise TfcompError(f"unknown settings {', '.join(unknown)}; choose from {', '.join(SETTINGS)}")
    path = os.path.join(RESULTS, "pruning.json")
    results = json.load(open(path)) if os.path.exists(path) else {}
    paths = kodak_images(args.limit)
    images = [read_image(p)[0] for p in paths]
    results["images"] = len(images)
    for name in models:
        done = results.setdefault(name, {})
        if args.time:
            exported = tflite_export.ExportedModel(zoo.resolve(name))
            symbols = exported.symbols(images[0])
            for setting, entry in tqdm(done.items(), desc=f"timing {name}", unit="setting"):
                decoder = plain_decoder.plain_synthesis(decoder_layers(exported, SETTINGS[setting]), exported.offset)
                decoder.load_weights(entry["weights"])
                entry.update(timing(decoder, symbols))
            report.write_results(RESULTS, "pruning", results, markdown(results, models), command)
            continue
        todo = [s for s in args.settings.split(",") if args.redo or s not in done]
        if not todo:
            continue
        exported = tflite_export.ExportedModel(zoo.resolve(name))
        codec = LearnedCodec(zoo.resolve(name))
        kodak = [{"image": im, "symbols": exported.symbols(im),
                  "bpp": bits_per_pixel(len(codec.encode(im)), *im.shape[:2])} for im in images]
        bpp = float(np.mean([k["bpp"] for k in kodak]))
        pairs = finetune.training_pairs(exported, crops=args.crops)
        for setting in tqdm(todo, desc=name, unit="setting"):
            start = time.time()
            decoder, record = build(exported, SETTINGS[setting], pairs, args.steps, args.lr)
            weights = os.path.join(WEIGHTS, name, setting.replace(":", "-") + ".weights.h5")
            os.makedirs(os.path.dirname(weights), exist_ok=True)
            decoder.save_weights(weights)
            done[setting] = {"bpp": bpp, **quality(decoder, kodak), "finetune": record,
                             "wall_time_s": time.time() - start, "weights": weights}
            report.write_results(RESULTS, "pruning", results, markdown(results, models), command)  # resumable
    report.write_results(RESULTS, "pruning", results, markdown(results, models), command)
    print("\n".join(markdown(results, models)))
    return 0


if __name__ == "__main__":
    run_program(main)
