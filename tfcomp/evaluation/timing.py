"""Wall-clock timing with warm-up and repeats: median and spread per stage."""
from __future__ import annotations

import statistics
import time
from typing import Any, Callable, Iterable


def time_call(fn: Callable[[], object], warmup: int = 2, repeats: int = 5) -> dict:
    """Runs fn `warmup` times untimed, then `repeats` times timed; seconds as median, min, max, IQR."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    samples.sort()
    quartiles = statistics.quantiles(samples, n=4) if len(samples) > 1 else [samples[0]] * 3
    return {"median_s": statistics.median(samples), "min_s": samples[0], "max_s": samples[-1],
            "iqr_s": quartiles[2] - quartiles[0], "repeats": repeats, "warmup": warmup}


def time_stages(stages: dict[str, Callable[[], object]], warmup: int = 2, repeats: int = 5) -> dict:
    """time_call for every named stage of a codec."""
    return {name: time_call(fn, warmup, repeats) for name, fn in stages.items()}


def time_interleaved(fns: dict[str, Callable[[], object]], warmup: int = 2, repeats: int = 6,
                     rounds: int = 3) -> dict[str, float]:
    """Median seconds of each function over `rounds` rounds of blocks: in each round every function gets
    `warmup` untimed calls, then repeats // rounds timed ones. Rounds spread a slow spell of the machine
    over all functions; the warm-up calls absorb what the previous block leaves behind (TensorFlow's
    worker threads keep spinning for a while after a call and slow whatever runs next)."""
    per_round = max(1, repeats // rounds)
    samples = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            for _ in range(warmup):
                fn()
            for _ in range(per_round):
                start = time.perf_counter()
                fn()
                samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in samples.items()}


def decode_time_medians(codecs: dict[str, Any], files: Iterable[dict[str, bytes]], warmup: int = 2,
                        repeats: int = 20, rounds: int = 10) -> dict[str, float]:
    """Per codec, the median over images of its median decode time; `files` gives, per image, each codec's
    file of it, and the codecs decode each image's files in interleaved rounds (time_interleaved)."""
    per_image: dict[str, list[float]] = {name: [] for name in codecs}
    for data_of in files:
        calls = {name: (lambda codec=codec, data=data_of[name]: codec.decode(data)) for name, codec in codecs.items()}
        for name, seconds in time_interleaved(calls, warmup=warmup, repeats=repeats, rounds=rounds).items():
            per_image[name].append(seconds)
    return {name: statistics.median(times) for name, times in per_image.items() if times}
