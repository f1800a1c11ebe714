"""A user's own noise recordings (DEMAND, MUSAN, a folder of room tones), mixed into training examples.

``data.noise`` names folders of recordings; each training example draws, with probability ``prob``, a
random stretch of a random file and mixes it in at an SNR drawn uniformly from ``snr_db``. Nothing is
downloaded: the folders are the user's. (The project's own training uses only the noise it synthesises,
``degrade/noise.py``; recorded sounds that system packages ship are kept for evaluation.)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...errors import DataError
from ..degrade.noise import mix_at_snr
from .files import CorpusReport, list_audio, load_corpus


@dataclass
class NoiseConfig:
    __pydantic_config__ = {"extra": "forbid"}

    dirs: list[str] = field(default_factory=list)  # folders (or files) of noise recordings; empty = off
    snr_db: list[float] = field(default_factory=lambda: [0.0, 20.0])  # SNR range, drawn uniformly
    prob: float = 0.5  # share of examples that get a recording mixed in

    def __post_init__(self) -> None:
        if len(self.snr_db) != 2 or self.snr_db[0] > self.snr_db[1]:
            raise ValueError("data.noise.snr_db must be [low, high] with low <= high")
        if not 0.0 <= self.prob <= 1.0:
            raise ValueError("data.noise.prob must be in [0, 1]")


class NoiseBank:
    """The recordings of a :class:`NoiseConfig`, loaded once (mono, at the model's rate)."""

    def __init__(self, cfg: NoiseConfig, sample_rate: int, report: CorpusReport):
        self.cfg = cfg
        self.signals = list(load_corpus(list_audio(cfg.dirs), sample_rate, 1e-4, report).values()) if cfg.dirs else []
        if cfg.dirs and not self.signals:
            raise DataError(f"no usable noise recording in data.noise.dirs ({', '.join(cfg.dirs)})")

    def __bool__(self) -> bool:
        return bool(self.signals) and self.cfg.prob > 0

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``x`` with a random stretch of a random recording mixed in (with probability ``prob``)."""
        if rng.uniform() >= self.cfg.prob:
            return x
        noise = self.signals[int(rng.integers(len(self.signals)))]
        n = len(x)
        if len(noise) >= n:
            start = int(rng.integers(0, len(noise) - n + 1))
            noise = noise[start:start + n]
        else:
            noise = np.resize(noise, n)
        return mix_at_snr(x, noise, float(rng.uniform(*self.cfg.snr_db)))
