"""Decodes a JSON list of {codec, file, output} jobs in its own process: `python -m` entry point."""
from __future__ import annotations

import json
import sys

from tqdm import tqdm

from tfcomp import registry
from tfcomp.data.images import image_bytes


def main(jobs_path: str) -> int:
    """Decodes each file with its codec and writes a lossless PNG."""
    with open(jobs_path) as f:
        jobs = json.load(f)
    codecs = {}
    for job in tqdm(jobs, desc="decode (separate process)", unit="file"):
        if job["codec"] not in codecs:
            codecs[job["codec"]] = registry.codec(job["codec"])
        with open(job["file"], "rb") as f:
            decoded = codecs[job["codec"]].decode(f.read())
        with open(job["output"], "wb") as f:
            f.write(image_bytes(decoded))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
