"""`tfcomp train -a klt`: learns the `klt` codec's basis from BSDS500 training images (default output:
tfcomp/codecs/klt_basis.npz, the shipped basis).

Each image is halved by area averaging (as `tfcomp train` does by default, which removes JPEG blocking),
then blocks are cut at random positions; the basis is the eigenvectors of their covariance. The same
seed and images give the same file.

    tfcomp train -a klt                  # ../shared/datasets/bsds500/train, seed 0: the shipped basis
    tfcomp train -a klt --train-data DIR --blocks-per-image 500 /tmp/klt.npz
"""
from __future__ import annotations

import argparse
import json
import os

import numpy as np
from tqdm import tqdm

from tfcomp.codecs.klt import BASIS_PATH, to_blocks
from tfcomp.data.images import read_image
from tfcomp.data.locations import REPO, dataset_dir
from tfcomp.data.pipeline import downsample2x
from tfcomp.training.train import image_files_off_kodak

# Values of `tfcomp train`'s shared options when not given.
DEFAULTS = dict(train_data=dataset_dir("TFCOMP_BSDS500", "bsds500", "train"), seed=0, output=BASIS_PATH)


def sample_blocks(path: str, block: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` block vectors at random positions of one 2x-downsampled image, in to_blocks' layout."""
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


def run(args: argparse.Namespace) -> int:
    """Learns the basis and writes the .npz with its metadata (args: train_data, block, blocks_per_image,
    seed, output)."""
    paths = image_files_off_kodak(args.train_data)
    klt = learn(paths, args.block, args.blocks_per_image, args.seed)
    images_dir = os.path.relpath(os.path.abspath(args.train_data), os.path.dirname(REPO))
    metadata = dict(block=args.block, images=len(paths), image_dir=images_dir,
                    first_image=os.path.basename(paths[0]), last_image=os.path.basename(paths[-1]),
                    downsample="2x area (tfcomp.data.pipeline.downsample2x)", blocks=klt["blocks"],
                    blocks_per_image=args.blocks_per_image, seed=args.seed,
                    energy_in_first_16=float(klt["eigenvalues"][:16].sum() / klt["eigenvalues"].sum()),
                    command="tfcomp train -a klt")
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    np.savez_compressed(args.output, basis=klt["basis"].astype(np.float32), mean=klt["mean"].astype(np.float32),
                        eigenvalues=klt["eigenvalues"].astype(np.float32), metadata=json.dumps(metadata))
    print(f"wrote {args.output} ({os.path.getsize(args.output)} bytes): {json.dumps(metadata)}")
    return 0
