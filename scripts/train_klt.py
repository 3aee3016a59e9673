"""Learns the `klt` codec's basis from BSDS500 training images and writes tfcomp/codecs/klt_basis.npz.

Each image is halved by area averaging (as `tfcomp train` does by default, which removes JPEG blocking),
then blocks are cut at random positions; the basis is the eigenvectors of their covariance. The same
seed and images give the same file.

    .venv/bin/python scripts/train_klt.py                  # ../shared/datasets/bsds500/train, seed 0
    .venv/bin/python scripts/train_klt.py --images DIR --blocks-per-image 500 --out /tmp/klt.npz
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np
from tqdm import tqdm

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tfcomp.codecs.klt import BASIS_PATH, to_blocks  # noqa: E402
from tfcomp.data.images import read_image  # noqa: E402
from tfcomp.data.locations import REPO, dataset_dir  # noqa: E402


def sample_blocks(path: str, block: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` block vectors at random positions of one 2x-downsampled image, in to_blocks' layout."""
    from tfcomp.data.pipeline import downsample2x

    image = downsample2x(read_image(path)[0].astype(np.float32)).numpy().astype(np.float64)
    height, width = image.shape[:2]
    tops = rng.integers(0, height - block + 1, count)
    lefts = rng.integers(0, width - block + 1, count)
    return np.concatenate([to_blocks(image[t:t + block, l:l + block], block)[0] for t, l in zip(tops, lefts)])


def learn(paths: list[str], block: int, per_image: int, seed: int) -> dict:
    """Mean, covariance eigen-decomposition (decreasing eigenvalues, signs fixed) of sampled blocks."""
    rng = np.random.default_rng(seed)
    dims = block * block * 3
    total, outer, count = np.zeros(dims), np.zeros((dims, dims)), 0
    for path in tqdm(paths, desc="sampling blocks", unit="image"):
        vectors = sample_blocks(path, block, per_image, rng)
        total += vectors.sum(0)
        outer += vectors.T @ vectors
        count += len(vectors)
    mean = total / count
    covariance = outer / count - np.outer(mean, mean)
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    order = np.argsort(eigenvalues)[::-1]
    basis = eigenvectors[:, order].T
    # An eigenvector's sign is arbitrary (LAPACK builds differ): make each one's largest entry positive.
    signs = np.sign(basis[np.arange(dims), np.abs(basis).argmax(1)])
    return dict(basis=basis * signs[:, None], mean=mean, eigenvalues=eigenvalues[order], blocks=count)


def main() -> int:
    """Parses arguments, learns the basis, writes the .npz with its metadata."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", default=dataset_dir("TFCOMP_BSDS500", "bsds500", "train"),
                        help="folder of training images (default: %(default)s); never Kodak")
    parser.add_argument("--block", type=int, default=8, help="block side (default: %(default)s)")
    parser.add_argument("--blocks-per-image", type=int, default=2000, help="default: %(default)s")
    parser.add_argument("--seed", type=int, default=0, help="default: %(default)s")
    parser.add_argument("--out", default=BASIS_PATH, help="default: the codec's shipped basis")
    args = parser.parse_args()

    from tfcomp.data.pipeline import list_images

    paths = list_images(args.images)
    if any("kodak" in p.lower() for p in paths):
        parser.error("refusing to learn the basis from Kodak, the test set")
    klt = learn(paths, args.block, args.blocks_per_image, args.seed)
    images_dir = os.path.relpath(os.path.abspath(args.images), os.path.dirname(REPO))
    metadata = dict(block=args.block, images=len(paths), image_dir=images_dir,
                    first_image=os.path.basename(paths[0]), last_image=os.path.basename(paths[-1]),
                    downsample="2x area (tfcomp.data.pipeline.downsample2x)", blocks=klt["blocks"],
                    blocks_per_image=args.blocks_per_image, seed=args.seed,
                    energy_in_first_16=float(klt["eigenvalues"][:16].sum() / klt["eigenvalues"].sum()),
                    script="scripts/train_klt.py")
    np.savez_compressed(args.out, basis=klt["basis"].astype(np.float32), mean=klt["mean"].astype(np.float32),
                        eigenvalues=klt["eigenvalues"].astype(np.float32), metadata=json.dumps(metadata))
    print(f"wrote {args.out} ({os.path.getsize(args.out)} bytes): {json.dumps(metadata)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
