"""Quantization of shipped decoders: post-training (the TFLite modes) and quantization-aware training with
TFMOT, measured on Kodak.

Per model and mode: TFLite file size, synthesis time on kodim01 (XNNPACK, 2 threads, median of repeats),
mean Kodak PSNR and its change against the model's own TF decoder. Modes: float32, float16, dynamic-int8
and int8 (post-training, calibrated on BSDS500 val latents), and int8-qat: the decoder fine-tuned with
TFMOT fake quantization (tfcomp.export.qat; the encoder and entropy model are fixed, so files keep their
bits) and converted to a fully int8 model (no float tensors: checked).

Results go to results/deployment/quantization.{json,md}; QAT TFLite files to build/quantization/.
Finished models are kept in the JSON and skipped on a rerun (--redo reruns them).

    .venv/bin/python -m tfcomp.export.qat_study [--models bls2017-mse-2,...] [--steps 600] [--lr 2e-5] [--limit N]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
from tqdm import tqdm


from tfcomp import report, zoo
from tfcomp.data.images import read_image
from tfcomp.data.kodak import kodak_images
from tfcomp.errors import run_program
from tfcomp.evaluation.metrics import psnr
from tfcomp.evaluation.timing import time_call
from tfcomp.export import qat, tflite, tflite_export

RESULTS = os.path.join("results", "deployment")
FILES = os.path.join("build", "quantization")
MODES = (*tflite.MODES, "int8-qat")
PROGRAM = "python -m tfcomp.export.qat_study"


def kodak_quality(decode, kodak: list[dict]) -> float:
    """Mean Kodak PSNR of a decoder on the precomputed symbols (pixels rounded and clamped)."""
    scores = []
    for item in kodak:
        h, w = item["image"].shape[:2]
        pixels = np.clip(np.round(decode(item["symbols"])), 0, 255)[0, :h, :w].astype(np.uint8)
        scores.append(psnr(item["image"], pixels))
    return float(np.mean(scores))


def measure_model(name: str, kodak_paths: list[str], steps: int, lr: float, range_decay: float, crops: int,
                  repeats: int) -> dict:
    """Every mode of one model: size, time, quality."""
    exported = tflite_export.ExportedModel(zoo.resolve(name))
    kodak = [{"image": image, "symbols": exported.symbols(image)} for image in (read_image(p)[0] for p in kodak_paths)]
    converted = tflite_export.convert_modes(exported, tflite.MODES, tflite_export.calibration_images())
    flatbuffers = {mode: flatbuffer for mode, (flatbuffer, _) in converted.items()}
    calibration = [exported.symbols(read_image(p)[0]) for p in tflite_export.calibration_images()]
    start = time.time()
    flatbuffers["int8-qat"], record = qat.quantize_exported(exported, calibration, steps, lr, crops, range_decay)
    record["wall_time_s"] = round(time.time() - start, 1)
    os.makedirs(FILES, exist_ok=True)
    with open(os.path.join(FILES, f"{exported.name}.int8-qat.tflite"), "wb") as f:
        f.write(flatbuffers["int8-qat"])
    tf_psnr = kodak_quality(lambda s: exported.reference(s), kodak)
    modes = {}
    for mode, flatbuffer in flatbuffers.items():
        decode = tflite.Decoder(flatbuffer)
        quality = kodak_quality(decode, kodak)
        modes[mode] = {"bytes": len(flatbuffer), "psnr": quality, "delta_psnr": quality - tf_psnr,
                       "ms": time_call(lambda: decode(kodak[0]["symbols"]), 2, repeats)["median_s"] * 1e3,
                       "float_tensors": len(qat.float_tensors(flatbuffer))}
    return {"tf_psnr": tf_psnr, "qat": record, "modes": modes}


def markdown(results: dict) -> list[str]:
    """One row per model: per mode, KB / ms / dPSNR."""
    rows = [[name, f"{row['tf_psnr']:.2f}",
             *(f"{row['modes'][m]['bytes'] / 1024:.0f} / {row['modes'][m]['ms']:.1f} / "
               f"{row['modes'][m]['delta_psnr']:+.2f}" for m in MODES), f"{row['qat']['steps']} ({row['qat']['lr']:g})"]
            for name, row in results.items() if isinstance(row, dict) and "modes" in row]
    return ([f"Quantized TFLite decoders on Kodak ({results['images']} images): file KB / kodim01 synthesis ms "
             "(XNNPACK, 2 threads) / mean PSNR change against the model's TF decoder (dB). int8-qat: TFMOT "
             "quantization-aware fine-tuning (steps, lr), fully int8.", ""]
            + report.table(["model", "TF PSNR", *MODES, "QAT steps (lr)"], rows))


def main(argv: list[str] | None = None) -> int:
    """Measures every model not yet in the results file."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=None, help="comma-separated shipped models (default: all single-rate)")
    parser.add_argument("--steps", type=int, default=600, help="QAT fine-tuning steps (batch 8; 0: calibrate only)")
    parser.add_argument("--lr", type=float, default=2e-5, help="peak QAT learning rate (cosine decay)")
    parser.add_argument("--range-decay", type=float, default=1.0,
                        help="EMA decay of the activation ranges while training (1: hold the calibrated ranges)")
    parser.add_argument("--crops", type=int, default=512, help="training crops encoded per model")
    parser.add_argument("--repeats", type=int, default=10, help="timed decodes per mode")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N Kodak images")
    parser.add_argument("--redo", action="store_true", help="rerun models that already have results")
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    paths = kodak_images(args.limit)
    models = args.models.split(",") if args.models else [m["name"] for m in zoo.list_models()
                                                          if not m.get("widths")]
    # A run on fewer images keeps its own file, so it never mixes with the full one.
    stem = "quantization" if args.limit is None else f"quantization-limit{args.limit}"
    path = os.path.join(RESULTS, stem + ".json")
    results = json.load(open(path)) if os.path.exists(path) else {}
    results["images"] = len(paths)
    command = report.command_line(PROGRAM, argv)
    for name in tqdm(models, desc="models", unit="model"):
        if name in results and not args.redo:
            continue
        results[name] = measure_model(name, paths, args.steps, args.lr, args.range_decay,
                                      args.crops, args.repeats)
        report.write_results(RESULTS, stem, results, markdown(results), command)  # a finished model is kept
    report.write_results(RESULTS, stem, results, markdown(results), command)
    print("\n".join(markdown(results)))
    return 0


if __name__ == "__main__":
    run_program(main)
