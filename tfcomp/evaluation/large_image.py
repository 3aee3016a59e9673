"""Large images: peak memory of `tfcomp compress`/`decompress` on a 6000x4000 photograph, and tiled against
untiled coding of a 1536x1024 one (PSNR, and a crop across a tile border).

The photograph is real content, not noise: sixteen landscape Kodak images upscaled 2x (Lanczos) and laid in
a 4x4 grid whose overlaps blend linearly from one to the next.

    nice -n 15 .venv/bin/python -m tfcomp.evaluation.large_image [--models a,b] [--out results/reliability]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
from PIL import Image


from tfcomp import report
from tfcomp.data.images import list_images
from tfcomp.errors import run_program
from tfcomp.measures import psnr

PROGRAM = "python -m tfcomp.evaluation.large_image"

BORDER_TILE = 512  # the tile side of the tiled run on the 1536x1024 image: borders at x = 512, 1024 and y = 512


def kodak_landscapes(folder: str) -> list[np.ndarray]:
    """The landscape (768x512) Kodak images, upscaled 2x."""
    result = []
    for path in list_images(os.path.join(folder, "kodim*.png")):
        image = Image.open(path).convert("RGB")
        if image.width > image.height:
            result.append(np.asarray(image.resize((image.width * 2, image.height * 2), Image.LANCZOS), np.float64))
    return result


def photograph(tiles: list[np.ndarray], height: int, width: int) -> np.ndarray:
    """A height x width image of tiles in a grid, neighbours overlapping and cross-faded (weights ramp linearly
    across each overlap)."""
    tile_h, tile_w = tiles[0].shape[:2]
    rows, cols = -(-(height - tile_h) // (tile_h - 64)) + 1, -(-(width - tile_w) // (tile_w - 64)) + 1
    step_y, step_x = (height - tile_h) // (rows - 1), (width - tile_w) // (cols - 1)

    def ramp(length: int, overlap_before: int, overlap_after: int) -> np.ndarray:
        weight = np.ones(length)
        weight[:overlap_before] = np.linspace(0, 1, overlap_before + 2)[1:-1]
        if overlap_after:
            weight[length - overlap_after:] = np.linspace(1, 0, overlap_after + 2)[1:-1]
        return weight

    total, weights = np.zeros((height, width, 3)), np.zeros((height, width, 1))
    for r in range(rows):
        for c in range(cols):
            wy = ramp(tile_h, (tile_h - step_y) if r else 0, (tile_h - step_y) if r < rows - 1 else 0)
            wx = ramp(tile_w, (tile_w - step_x) if c else 0, (tile_w - step_x) if c < cols - 1 else 0)
            weight = (wy[:, None] * wx[None, :])[..., None]
            y, x = r * step_y, c * step_x
            total[y:y + tile_h, x:x + tile_w] += weight * tiles[(r * cols + c) % len(tiles)]
            weights[y:y + tile_h, x:x + tile_w] += weight
    return np.clip(np.round(total / weights), 0, 255).astype(np.uint8)


def _peak_rss_mb(pid: int) -> int:
    """VmHWM of a live process (its own peak: a forked child's getrusage maxrss also counts its parent's)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            return next(int(line.split()[1]) // 1024 for line in f if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return 0


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(child) for child in f.read().split()]
    except OSError:
        return []


def tfcomp(*args: str) -> tuple[float, int]:
    """Runs the CLI in a child process: (seconds, peak resident memory in MB of it and its worker together,
    each process's peak read from /proc while it runs)."""
    start = time.time()
    child = subprocess.Popen([sys.executable, "-m", "tfcomp", *args], stdout=subprocess.DEVNULL,
                             env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    peaks: dict[int, int] = {}
    while child.poll() is None:
        for pid in [child.pid, *_children(child.pid)]:
            peaks[pid] = max(peaks.get(pid, 0), _peak_rss_mb(pid))
        time.sleep(0.1)
    if child.returncode:
        raise RuntimeError(f"tfcomp {' '.join(args)} exited with {child.returncode}")
    return round(time.time() - start, 1), sum(peaks.values())


def main(argv: list[str] | None = None) -> int:
    """Makes the images, runs the CLI on them, writes the figures and the crop."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="bls2017-mse-2,bmshj2018-mse-2,bls2017-mse-6")
    parser.add_argument("--kodak", default="../shared/datasets/kodak")
    parser.add_argument("--work", default="/tmp/tfcomp-large")
    parser.add_argument("--out", default="results/reliability")
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    large, medium = os.path.join(args.work, "photo-6000x4000.png"), os.path.join(args.work, "photo-1536x1024.png")
    if not os.path.exists(large):
        tiles = kodak_landscapes(args.kodak)  # before anything is written: no Kodak, no output
        os.makedirs(args.work, exist_ok=True)
        Image.fromarray(photograph(tiles, 4000, 6000)).save(large)
        Image.fromarray(np.clip(np.round(tiles[0]), 0, 255).astype(np.uint8)).save(medium)
    os.makedirs(args.out, exist_ok=True)
    record = {"large": {}, "tiled_vs_untiled": {}}
    original = np.asarray(Image.open(medium).convert("RGB"))
    for model in args.models.split(","):
        decoded = {}
        for tile in ("0", str(BORDER_TILE)):
            coded = os.path.join(args.work, f"medium-{model}-tile{tile}.tfc")
            tfcomp("compress", "-f", "-m", model, "--tile", tile, medium, coded)
            tfcomp("decompress", "-f", "--tile", tile, coded, coded + ".png")
            decoded[tile] = np.asarray(Image.open(coded + ".png").convert("RGB"))
        untiled, tiled = decoded["0"], decoded[str(BORDER_TILE)]
        record["tiled_vs_untiled"][model] = {
            "psnr_untiled": round(psnr(original, untiled), 4), "psnr_tiled": round(psnr(original, tiled), 4),
            "pixels_differing": int((untiled != tiled).any(-1).sum()),
            "max_difference": int(np.abs(untiled.astype(int) - tiled).max())}
        if model == args.models.split(",")[0]:
            # 160x160 around the corner where four 512x512 tiles meet: original | tiled | untiled, 2x.
            crop = (slice(BORDER_TILE - 80, BORDER_TILE + 80), slice(BORDER_TILE - 80, BORDER_TILE + 80))
            panel = np.concatenate([original[crop], tiled[crop], untiled[crop]], 1)
            Image.fromarray(panel).resize((panel.shape[1] * 2, panel.shape[0] * 2), Image.NEAREST).save(
                os.path.join(args.out, "tile_border_crop.png"))
    for model in args.models.split(","):
        coded = os.path.join(args.work, f"large-{model}.tfc")
        encode_s, encode_mb = tfcomp("compress", "-f", "-m", model, large, coded)
        decode_s, decode_mb = tfcomp("decompress", "-f", coded, coded + ".png")
        decoded = np.asarray(Image.open(coded + ".png").convert("RGB"))
        record["large"][model] = {
            "size": "6000x4000", "bytes": os.path.getsize(coded), "psnr": round(psnr(
                np.asarray(Image.open(large).convert("RGB")), decoded), 3),
            "compress_s": encode_s, "decompress_s": decode_s,
            "peak_rss_mb_compress": encode_mb, "peak_rss_mb_decompress_with_worker": decode_mb}
        print(model, record["large"][model], flush=True)
    report.write_record(os.path.join(args.out, "large_image.json"), record, report.command_line(PROGRAM, argv))
    print(json.dumps(record, indent=1))
    return 0


if __name__ == "__main__":
    run_program(main)
