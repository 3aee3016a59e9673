"""Votes on disk and what they add up to: a CSV appended one row per choice, win rates with Wilson intervals."""
from __future__ import annotations

import csv
import dataclasses
import os

from scipy.stats import binomtest

from tfcomp.errors import TfcompError

COLUMNS = ("timestamp", "trial", "image", "codec_a", "codec_b", "codec_left", "codec_right",
           "bytes_left", "bytes_right", "choice", "winner")
NO_PREFERENCE = "none"


class VoteLog:
    """Appends each vote to a CSV as it is cast, flushed to disk, so killing the server loses nothing."""

    def __init__(self, path: str):
        self.path = path
        try:
            self._file = open(path, "a+", newline="")
            self._file.seek(0)
            header = self._file.readline().strip()
        except OSError as error:
            raise TfcompError(f"{path}: cannot write votes ({error.strerror})") from None
        if header and header != ",".join(COLUMNS):
            self._file.close()
            raise TfcompError(f"{path}: exists with other columns; pick another --csv")
        self._writer = csv.DictWriter(self._file, COLUMNS)
        if not header:
            self._writer.writeheader()
            self._flush()

    def append(self, row: dict) -> None:
        """Writes one vote and forces it to disk."""
        self._writer.writerow(row)
        self._flush()

    def _flush(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        """Closes the file."""
        self._file.close()


def read_votes(path: str) -> list[dict]:
    """Every vote recorded in a CSV."""
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def wilson_interval(wins: int, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a win rate (well-behaved at 0 or 100% and for few votes)."""
    interval = binomtest(wins, trials).proportion_ci(confidence, method="wilson")
    return float(interval.low), float(interval.high)


@dataclasses.dataclass(frozen=True)
class WinRate:
    """One contestant's wins among the decisive votes, with a confidence interval."""

    codec: str
    wins: int
    decisive: int
    low: float
    high: float

    @property
    def rate(self) -> float:
        """Fraction of decisive votes won."""
        return self.wins / self.decisive


def win_rates(votes: list[dict]) -> list[WinRate]:
    """Per contestant (A first), wins over the votes that preferred one side; empty if none did."""
    contestants = list(dict.fromkeys(name for v in votes for name in (v["codec_a"], v["codec_b"])))
    decisive = [v["winner"] for v in votes if v["winner"] != NO_PREFERENCE]
    if not decisive:
        return []
    return [WinRate(name, decisive.count(name), len(decisive), *wilson_interval(decisive.count(name), len(decisive)))
            for name in contestants]


def format_win_rates(votes: list[dict]) -> str:
    """The summary printed at the end of a session."""
    ties = sum(v["winner"] == NO_PREFERENCE for v in votes)
    lines = [f"{len(votes)} vote{'' if len(votes) == 1 else 's'}: {len(votes) - ties} decisive, {ties} no preference"]
    rates = win_rates(votes)
    if not rates:
        return "\n".join(lines + ["no decisive votes: no win rates"])
    lines.append(f"{'codec':28}{'wins':>6}{'win rate':>10}   95% CI (Wilson)")
    lines += [f"{r.codec:28}{r.wins:>6}{r.rate:>10.1%}   [{r.low:.1%}, {r.high:.1%}]" for r in rates]
    return "\n".join(lines)
