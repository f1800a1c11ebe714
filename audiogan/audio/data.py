"""Training data for the enhancer: corpora on disk, or speech-like signals it makes itself.

Modes (``DataConfig.mode``):

- ``synthetic``: speech-like utterances rendered here (harmonic source through moving formants, noise
  fricatives, pauses), degraded on the fly. Needs no file and no external tool: for tests and the debug
  config.
- ``clean``: a folder of clean speech, degraded on the fly by the degradation simulator.
- ``paired``: a degraded folder and a clean folder holding the same relative file names.
- ``unpaired``: a folder of degraded speech and an unrelated folder of clean speech; the critic learns
  "clean" and the reconstruction ties each output to its own input.

Every example is a pure function of ``(seed, index)`` so a resumed run sees exactly the batches that an
uninterrupted run would have seen, whatever the number of loader workers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from .degrade import DegradeConfig, available, degrade
from .io import AudioError, load_mono

log = logging.getLogger(__name__)
AUDIO_EXTENSIONS = {".wav", ".flac", ".ogg", ".mp3", ".g722", ".aiff", ".aif", ".opus"}


@dataclass
class DataConfig:
    __pydantic_config__ = {"extra": "forbid"}

    mode: str = "synthetic"  # synthetic | clean | paired | unpaired
    clean: list[str] = field(default_factory=list)  # folders or files of clean speech
    degraded: list[str] = field(default_factory=list)  # paired / unpaired: degraded speech
    segment_seconds: float = 1.0
    batch_size: int = 8
    num_workers: int = 0
    min_rms: float = 1e-3  # files quieter than this (about -60 dBFS) are reported as silent
    synthetic_utterances: int = 32  # synthetic mode: utterances rendered (3 s each)
    gain_db: list[float] = field(default_factory=lambda: [-18.0, 0.0])  # random level, re peak 0.9
    degrade: DegradeConfig = field(default_factory=DegradeConfig)

    def __post_init__(self) -> None:
        if self.mode not in ("synthetic", "clean", "paired", "unpaired"):
            raise ValueError(f"unknown data mode {self.mode!r}; valid: synthetic, clean, paired, unpaired")
        if self.mode in ("clean", "paired", "unpaired") and not self.clean:
            raise ValueError(f"data mode {self.mode!r} needs data.clean")
        if self.mode in ("paired", "unpaired") and not self.degraded:
            raise ValueError(f"data mode {self.mode!r} needs data.degraded")


# -- synthetic speech-like signals ---------------------------------------------------------------------
def synth_utterance(seconds: float, sr: int, rng: np.random.Generator) -> np.ndarray:
    """A speech-like signal: voiced syllables (glottal-like pulse train with a wandering f0 through
    three moving formant resonators), noise fricatives and short pauses. Peak-normalised to 0.9."""
    from scipy.signal import lfilter

    n = int(seconds * sr)
    out = np.zeros(n, dtype=np.float64)
    pos = int(rng.uniform(0.02, 0.1) * sr)
    base_f0 = rng.uniform(90, 240)
    while pos < n:
        kind = rng.choice(["voiced", "voiced", "voiced", "fricative", "pause"])
        length = int(rng.uniform(0.06, 0.25) * sr)
        seg_n = min(length, n - pos)
        t = np.arange(seg_n) / sr
        if kind == "voiced":
            f0 = base_f0 * (1 + 0.15 * np.sin(2 * np.pi * rng.uniform(1, 4) * t + rng.uniform(0, 6)))
            phase = 2 * np.pi * np.cumsum(f0) / sr
            src = sum((0.7 ** k) * np.sin(k * phase) for k in range(1, 30)) + 0.02 * rng.standard_normal(seg_n)
            seg = np.zeros(seg_n)
            for lo, hi, bw in ((300, 900, 80), (900, 2500, 120), (2200, 3500, 200)):
                f = rng.uniform(lo, hi)
                r = np.exp(-np.pi * bw / sr)
                a = [1, -2 * r * np.cos(2 * np.pi * f / sr), r * r]
                seg += lfilter([1 - r], a, src)
        elif kind == "fricative":
            f = rng.uniform(2500, min(6500, 0.45 * sr))
            r = np.exp(-np.pi * 800 / sr)
            seg = 0.3 * lfilter([1 - r], [1, -2 * r * np.cos(2 * np.pi * f / sr), r * r], rng.standard_normal(seg_n))
        else:
            seg = np.zeros(seg_n)
        env = np.hanning(seg_n) if seg_n > 2 else np.ones(seg_n)
        out[pos:pos + seg_n] += seg * env * rng.uniform(0.3, 1.0)
        pos += seg_n + int(rng.uniform(0.0, 0.05) * sr)
    peak = np.abs(out).max()
    return (0.9 * out / peak if peak > 0 else out).astype(np.float32)


# -- corpora -----------------------------------------------------------------------------------
def list_audio(sources: list[str]) -> list[Path]:
    """Audio files under the given folders (recursive) or named directly, sorted."""
    files: list[Path] = []
    for src in sources:
        p = Path(src)
        if p.is_dir():
            files += sorted(f for f in p.rglob("*") if f.suffix.lower() in AUDIO_EXTENSIONS and f.is_file())
        elif p.exists():
            files.append(p)
        else:
            raise FileNotFoundError(f"{p}: no such file or folder")
    return files


@dataclass
class CorpusReport:
    loaded: int = 0
    problems: dict[str, str] = field(default_factory=dict)  # path -> reason

    def summary(self) -> str:
        return f"{self.loaded} files loaded, {len(self.problems)} skipped"


def load_corpus(files: list[Path], sr: int, min_rms: float, report: CorpusReport) -> dict[str, np.ndarray]:
    """Load every usable file as mono at ``sr``; each problem is logged once and counted in ``report``."""
    audio: dict[str, np.ndarray] = {}
    for f in files:
        try:
            x = load_mono(f, sr)
        except AudioError as err:
            report.problems[str(f)] = str(err)
            log.warning("skipped %s", err)
            continue
        if not np.isfinite(x).all():
            report.problems[str(f)] = "contains NaN or Inf samples"
            log.warning("skipped %s: contains NaN or Inf samples", f)
            continue
        if float(np.sqrt(np.mean(x ** 2))) < min_rms:
            report.problems[str(f)] = "silent"
            log.warning("skipped %s: silent (RMS below %g)", f, min_rms)
            continue
        audio[str(f)] = x
        report.loaded += 1
    return audio


class EnhancementDataset(Dataset):
    """``(degraded (1, L), clean (1, L))`` segments; item ``i`` is a pure function of ``(seed, i)``."""

    def __init__(self, cfg: DataConfig, sample_rate: int, seed: int):
        self.cfg, self.sr, self.seed = cfg, sample_rate, seed
        self.length = int(round(cfg.segment_seconds * sample_rate))
        self.report = CorpusReport()
        self.degradations = available(cfg.degrade.names)
        rng = np.random.default_rng([seed, 0xC0FFEE])
        if cfg.mode == "synthetic":
            self.clean = [synth_utterance(3.0, sample_rate, rng) for _ in range(cfg.synthetic_utterances)]
            self.degraded: list[np.ndarray] = []
        elif cfg.mode == "clean":
            self.clean = list(load_corpus(list_audio(cfg.clean), sample_rate, cfg.min_rms, self.report).values())
            self.degraded = []
        elif cfg.mode == "paired":
            self.clean, self.degraded = self._load_pairs()
        else:
            self.clean = list(load_corpus(list_audio(cfg.clean), sample_rate, cfg.min_rms, self.report).values())
            self.degraded = list(load_corpus(list_audio(cfg.degraded), sample_rate, cfg.min_rms, self.report).values())
            if not self.degraded:
                raise ValueError("no usable degraded audio found in data.degraded")
        if not self.clean:
            raise ValueError("no usable clean audio found in data.clean")
        self.weights = self._weights(self.clean)

    def _load_pairs(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        clean_root, deg_root = Path(self.cfg.clean[0]), Path(self.cfg.degraded[0])
        clean_files = list_audio([str(clean_root)])
        clean = load_corpus(clean_files, self.sr, self.cfg.min_rms, self.report)
        pairs_c, pairs_d = [], []
        for path, x in clean.items():
            rel = Path(path).relative_to(clean_root)
            partner = deg_root / rel
            if not partner.exists():
                self.report.problems[path] = f"no degraded partner {partner}"
                log.warning("skipped %s: no degraded partner at %s", path, partner)
                continue
            got = load_corpus([partner], self.sr, 0.0, self.report)
            if str(partner) not in got:
                continue
            y = got[str(partner)]
            n = min(len(x), len(y))
            pairs_c.append(x[:n])
            pairs_d.append(y[:n])
        return pairs_c, pairs_d

    @staticmethod
    def _weights(items: list[np.ndarray]) -> np.ndarray:
        lengths = np.array([len(x) for x in items], dtype=np.float64)
        return lengths / lengths.sum()

    def __len__(self) -> int:  # effectively endless: indices come from the sampler
        return 2 ** 62

    def _segment(self, x: np.ndarray, rng: np.random.Generator, start: int | None = None) -> tuple[np.ndarray, int]:
        if len(x) <= self.length:
            return np.pad(x, (0, self.length - len(x))), 0
        start = int(rng.integers(0, len(x) - self.length + 1)) if start is None else start
        return x[start:start + self.length], start

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng([self.seed, index])
        k = int(rng.choice(len(self.clean), p=self.weights))
        clean, start = self._segment(self.clean[k], rng)
        lo, hi = self.cfg.gain_db
        gain = 10 ** (rng.uniform(lo, hi) / 20) * 0.9 / max(float(np.abs(clean).max()), 1e-4)
        clean = clean * gain
        if self.cfg.mode == "paired":
            degraded, _ = self._segment(self.degraded[k], rng, start)
            degraded = degraded * gain
        elif self.cfg.mode == "unpaired":
            j = int(rng.integers(len(self.degraded)))
            degraded, _ = self._segment(self.degraded[j], rng)
            degraded = degraded * 0.9 * 10 ** (rng.uniform(lo, hi) / 20) / max(float(np.abs(degraded).max()), 1e-4)
        else:
            degraded, _ = degrade(clean, self.sr, rng, self.cfg.degrade, names=self.degradations)
        as_t = lambda a: torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).unsqueeze(0)  # noqa: E731
        return as_t(degraded), as_t(clean)


class RangeSampler(Sampler[int]):
    """Indices ``start, start + 1, ...`` without end: the loader's position is just a number."""

    def __init__(self, start: int):
        self.start = start

    def __iter__(self):
        i = self.start
        while True:
            yield i
            i += 1


def make_loader(dataset: EnhancementDataset, start_batch: int) -> DataLoader:
    """Batches from batch number ``start_batch`` on (exact resume: each batch is a pure function)."""
    cfg = dataset.cfg
    return DataLoader(dataset, batch_size=cfg.batch_size, sampler=RangeSampler(start_batch * cfg.batch_size),
                      num_workers=cfg.num_workers, persistent_workers=cfg.num_workers > 0,
                      prefetch_factor=2 if cfg.num_workers > 0 else None)
