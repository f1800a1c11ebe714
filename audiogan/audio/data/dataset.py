"""Training data for the enhancer: corpora on disk, or speech-like signals it makes itself.

Modes (``DataConfig.mode``):

- ``synthetic``: speech-like utterances rendered here (harmonic source through moving formants, noise
  fricatives, pauses), degraded on the fly. Needs no file and no external tool: for tests and the debug
  config.
- ``clean``: a folder of clean speech, degraded on the fly by the degradation simulator.
- ``paired``: a degraded folder and a clean folder holding the same relative file names.
- ``unpaired``: a folder of degraded speech and an unrelated folder of clean speech; the critic learns
  "clean" and the reconstruction ties each output to its own input.

In every mode, ``identity_fraction`` of the training examples have their clean target as their input: a
model that never sees undamaged speech takes every input for damaged and alters clean speech too (v2 at
step 6,000, trained without any, took clean held-out speech of full-band voices from PESQ 4.64 to 4.29).

``speed = [lo, hi]`` perturbs the speed of the clean speech of every training example (Ko et al. 2015): a
segment of ``factor * L`` samples is resampled to ``L``, so pitch, formants and tempo all scale by a factor
drawn from ``[lo, hi]``, i.e. new voices from the same recordings. A slowed segment (factor < 1) has no
content above ``factor`` x Nyquist (7.04 kHz at 0.88), so with ``speed_band`` (the default) its damaged input
is cut at the same edge (modes synthetic and clean, where the input is made from the target): otherwise the
band above it holds only damage (noise, codec hiss) in every slowed example, and the model learns to remove
the top band of all speech (audiogan-v2-speed cut 7-8 kHz of clean held-out speech by 13 dB; audiogan-v2,
trained without speed perturbation, by 1 dB).

``shaping = s`` filters the clean speech of every training example through a random second-order filter,
``(1 + a z^-1 + b z^-2) / (1 + c z^-1 + d z^-2)`` with coefficients uniform in ``[-s, s]`` (RNNoise's
spectral shaping, Valin 2018, uses s = 3/8): microphones and rooms of another tilt and resonance, which the
target carries too, so the model learns to keep an input's colour rather than impose the training voices'.
Validation examples are left as recorded.

``formant = [lo, hi]`` moves the formants of the clean speech of every training example by a factor drawn
from the range and keeps its pitch: each STFT frame's spectral envelope (cepstrally smoothed log magnitude)
is warped along frequency, ``E'(f) = E(f / factor)``, and the frame is reweighted by ``E' / E`` with its
harmonics and phase kept (the envelope-only variant of vocal tract length perturbation, Jaitly and Hinton
2013). With ``speed``, which scales pitch and formants together, it draws voices whose pitch and vocal tract
vary apart: speakers the two recorded voices are not. Validation examples are left as recorded.

Every example is a pure function of ``(seed, index)`` so a resumed run sees exactly the batches that an
uninterrupted run would have seen, whatever the number of loader workers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.signal
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from ...errors import DataError
from ..degrade.registry import DegradeConfig, available, degrade
from .files import CorpusReport, list_audio, load_corpus
from .io import resample
from .noise import NoiseBank, NoiseConfig
from .signal import fit_length
from .synthetic import synth_utterance

log = logging.getLogger(__name__)
VALID_SEED_OFFSET = 1_000_003  # the validation split draws from another seed stream than training
# the data options that validation speech goes without
AS_RECORDED = {"speed": [1.0, 1.0], "shaping": 0.0, "formant": [1.0, 1.0]}


@dataclass
class DataConfig:
    __pydantic_config__ = {"extra": "forbid"}

    mode: str = "synthetic"  # synthetic | clean | paired | unpaired | cached
    cache: str = ""  # cached: a segment cache folder (audiogan corpus cache)
    clean: list[str] = field(default_factory=list)  # folders or files of clean speech
    degraded: list[str] = field(default_factory=list)  # paired / unpaired: degraded speech
    segment_seconds: float = 1.0
    batch_size: int = 8
    num_workers: int = 0
    min_rms: float = 1e-3  # files quieter than this (about -60 dBFS) are reported as silent
    synthetic_utterances: int = 32  # synthetic mode: utterances rendered (3 s each)
    gain_db: list[float] = field(default_factory=lambda: [-18.0, 0.0])  # random level, re peak 0.9
    degrade: DegradeConfig = field(default_factory=DegradeConfig)
    noise: NoiseConfig = field(default_factory=NoiseConfig)  # a user's noise recordings, mixed in
    identity_fraction: float = 0.0  # share of training examples whose input is their clean target
    speed: list[float] = field(default_factory=lambda: [1.0, 1.0])  # speed perturbation range of the clean speech
    shaping: float = 0.0  # random second-order filter of the clean speech, coefficients in [-shaping, shaping]
    speed_band: bool = True  # a slowed example's input is cut at its target's band edge (factor x Nyquist)
    formant: list[float] = field(default_factory=lambda: [1.0, 1.0])  # formant warp range, pitch kept

    def __post_init__(self) -> None:
        if self.mode not in ("synthetic", "clean", "paired", "unpaired", "cached"):
            raise ValueError(f"unknown data mode {self.mode!r}; valid: synthetic, clean, paired, unpaired, cached")
        if self.mode == "cached" and not self.cache:
            raise ValueError("data mode 'cached' needs data.cache (a folder made by audiogan corpus cache)")
        if self.mode in ("clean", "paired", "unpaired") and not self.clean:
            raise ValueError(f"data mode {self.mode!r} needs data.clean")
        if self.mode in ("paired", "unpaired") and not self.degraded:
            raise ValueError(f"data mode {self.mode!r} needs data.degraded")
        for key, plain in AS_RECORDED.items():
            value = getattr(self, key)
            if self.mode in ("paired", "cached") and (list(value) if isinstance(value, tuple) else value) != plain:
                raise ValueError(f"data.{key} alters speech as it is degraded (modes synthetic, clean, unpaired), "
                                 f"not in mode {self.mode!r}"
                                 + (": make the cache with it" if self.mode == "cached" else ""))
        if self.mode == "paired" and len(self.clean) != len(self.degraded):
            raise ValueError(f"degraded must pair with clean, one folder (or file) each: {len(self.clean)} clean, "
                             f"{len(self.degraded)} degraded")
        for key, ok, rule in (("segment_seconds", self.segment_seconds > 0, "> 0"),
                              ("batch_size", self.batch_size >= 1, ">= 1"),
                              ("num_workers", self.num_workers >= 0, ">= 0"), ("min_rms", self.min_rms >= 0, ">= 0"),
                              ("synthetic_utterances", self.synthetic_utterances >= 1, ">= 1"),
                              ("identity_fraction", 0 <= self.identity_fraction < 1, "in [0, 1)"),
                              ("speed", len(self.speed) == 2 and 0.5 <= self.speed[0] <= self.speed[1] <= 2.0,
                               "[low, high] with 0.5 <= low <= high <= 2"),
                              ("shaping", 0 <= self.shaping < 0.5, "in [0, 0.5) (stable filters)"),
                              ("formant", len(self.formant) == 2 and 0.5 <= self.formant[0] <= self.formant[1] <= 2.0,
                               "[low, high] with 0.5 <= low <= high <= 2"),
                              ("gain_db", len(self.gain_db) == 2 and self.gain_db[0] <= self.gain_db[1],
                               "[low, high] with low <= high")):
            if not ok:
                raise ValueError(f"{key} must be {rule}, got {getattr(self, key)!r}")


def random_shaping(x: np.ndarray, rng: np.random.Generator, s: float) -> np.ndarray:
    """``x`` through ``(1 + a z^-1 + b z^-2) / (1 + c z^-1 + d z^-2)``, ``a, b, c, d`` uniform in ``[-s, s]``.
    For ``s < 0.5`` the poles lie inside the unit circle (|d| < 1 and |c| < 1 + d), so the filter is stable."""
    a, b, c, d = rng.uniform(-s, s, 4)
    return scipy.signal.lfilter([1.0, a, b], [1.0, c, d], x).astype(x.dtype, copy=False)


def formant_shift(x: np.ndarray, factor: float, n_fft: int = 512, hop: int = 128, lifter: int = 24,
                  max_gain: float = 8.0) -> np.ndarray:
    """``x`` with its formants moved by ``factor`` (> 1: up, a shorter vocal tract) and its pitch kept.

    Per STFT frame (Hann, ``n_fft``, ``hop``), the log-magnitude envelope is the real cepstrum kept below
    quefrency ``lifter`` (1.5 ms at 16 kHz: under the pitch period of any voice up to 660 Hz); the frame is
    multiplied by ``exp(E(f / factor) - E(f))``, bounded to ``[1 / max_gain, max_gain]`` so a warped
    envelope cannot lift a spectral valley into noise, and resynthesised by overlap-add with its own phase."""
    if factor == 1.0 or len(x) < n_fft:
        return x
    stft = dict(nperseg=n_fft, noverlap=n_fft - hop, window="hann")
    _, _, spec = scipy.signal.stft(x, boundary="even", **stft)
    cepstrum = np.fft.irfft(np.log(np.abs(spec) + 1e-9), n=n_fft, axis=0)
    cepstrum[lifter:n_fft - lifter + 1] = 0.0
    envelope = np.fft.rfft(cepstrum, axis=0).real  # (bins, frames)
    bins = np.arange(envelope.shape[0], dtype=np.float64)
    source = np.clip(bins / factor, 0, bins[-1])
    lo = np.floor(source).astype(int)
    hi, w = np.minimum(lo + 1, len(bins) - 1), (source - lo)[:, None]
    warped = (1 - w) * envelope[lo] + w * envelope[hi]
    gain = np.exp(np.clip(warped - envelope, -np.log(max_gain), np.log(max_gain)))
    _, y = scipy.signal.istft(spec * gain, boundary=True, **stft)
    return fit_length(y, len(x)).astype(x.dtype, copy=False)


def is_identity(seed: int, index: int, fraction: float) -> bool:
    """Whether training example ``index`` is an identity example (its input is its clean target): a pure
    function of ``(seed, index)``, drawn from its own stream so the other examples do not change."""
    return fraction > 0 and np.random.default_rng([seed, index, 0x1D]).random() < fraction


class EnhancementDataset(Dataset):
    """``(degraded (1, L), clean (1, L))`` segments; item ``i`` is a pure function of ``(seed, i)``."""

    def __init__(self, cfg: DataConfig, sample_rate: int, seed: int):
        self.cfg, self.sr, self.seed = cfg, sample_rate, seed
        self.identity = cfg.identity_fraction  # 0 for validation examples: they are all damaged
        self._alter({key: getattr(cfg, key) for key in AS_RECORDED})  # AS_RECORDED for validation examples
        # speed_band applies where the input is made from the target (not to another recording's)
        self.cut_slowed = cfg.speed_band and cfg.mode in ("synthetic", "clean")
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
                raise DataError("no usable degraded audio found in data.degraded")
        if not self.clean:
            raise DataError("no usable clean audio found in data.clean")
        self.noise = NoiseBank(cfg.noise, sample_rate, self.report)
        self.weights = self._weights(self.clean)

    def fixed_example(self) -> tuple[torch.Tensor, torch.Tensor]:
        """An example never drawn for training (an index far past any run's end)."""
        return self[2 ** 40]

    def validation(self, n: int = 32) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """``n`` validation examples: the same corpus, drawn from another seed stream than training's."""
        other = EnhancementDataset.__new__(EnhancementDataset)
        other.__dict__.update(self.__dict__)
        other.seed, other.identity = self.seed + VALID_SEED_OFFSET, 0.0
        other._alter(AS_RECORDED)
        return [other[i] for i in range(n)]

    def _alter(self, options: dict) -> None:
        """Apply ``options`` (values for AS_RECORDED's keys) to the clean speech of this dataset's examples."""
        self.speed, self.shaping, self.formant = tuple(options["speed"]), options["shaping"], tuple(options["formant"])

    def _load_pairs(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Every ``(clean, degraded)`` pair of files with the same relative path, over every pair of folders
        (or files) ``data.clean[i]``, ``data.degraded[i]``."""
        pairs_c, pairs_d = [], []
        for clean_root, deg_root in zip(map(Path, self.cfg.clean), map(Path, self.cfg.degraded)):
            clean = load_corpus(list_audio([str(clean_root)]), self.sr, self.cfg.min_rms, self.report)
            for path, x in clean.items():
                partner = deg_root / Path(path).relative_to(clean_root)
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

    def _segment(self, x: np.ndarray, rng: np.random.Generator, start: int | None = None,
                 length: int | None = None) -> tuple[np.ndarray, int]:
        length = self.length if length is None else length
        if len(x) <= length:
            return np.pad(x, (0, length - len(x))), 0
        start = int(rng.integers(0, len(x) - length + 1)) if start is None else start
        return x[start:start + length], start

    def _clean_segment(self, x: np.ndarray, rng: np.random.Generator,
                       index: int) -> tuple[np.ndarray, int, float]:
        """A training segment of ``x`` and its speed factor, speed-perturbed when ``speed`` is not ``(1, 1)``,
        its formants moved when ``formant`` is not ``(1, 1)`` and shaped when ``shaping`` is not 0 (no draw
        otherwise, so configs without them keep their exact examples). The formant factor comes from its own
        stream of ``(seed, index)``: with it or without, an example's every other draw is the same."""
        factor = 1.0
        if self.speed == (1.0, 1.0):
            segment, start = self._segment(x, rng)
        else:
            factor = float(rng.uniform(*self.speed))
            segment, start = self._segment(x, rng, length=int(round(self.length * factor)))
            segment = fit_length(resample(segment, self.sr * factor, self.sr), self.length)
        if self.formant != (1.0, 1.0):
            warp = np.random.default_rng([self.seed, index, 0xF0]).uniform(*self.formant)
            segment = formant_shift(segment, float(warp))
        if self.shaping:
            segment = random_shaping(segment, rng, self.shaping)
        return segment, start, factor

    def _band_edge(self, x: np.ndarray, factor: float) -> np.ndarray:
        """``x`` cut at ``factor`` x Nyquist by the resampling that cut a segment slowed by ``factor``."""
        return fit_length(resample(resample(x, self.sr, self.sr * factor), self.sr * factor, self.sr), len(x))

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng([self.seed, index])
        k = int(rng.choice(len(self.clean), p=self.weights))
        clean, start, factor = self._clean_segment(self.clean[k], rng, index)
        lo, hi = self.cfg.gain_db
        gain = 10 ** (rng.uniform(lo, hi) / 20) * 0.9 / max(float(np.abs(clean).max()), 1e-4)
        clean = clean * gain
        if is_identity(self.seed, index, self.identity):
            degraded = clean
        elif self.cfg.mode == "paired":
            degraded, _ = self._segment(self.degraded[k], rng, start)
            degraded = degraded * gain
        elif self.cfg.mode == "unpaired":
            j = int(rng.integers(len(self.degraded)))
            degraded, _ = self._segment(self.degraded[j], rng)
            degraded = degraded * 0.9 * 10 ** (rng.uniform(lo, hi) / 20) / max(float(np.abs(degraded).max()), 1e-4)
        else:
            degraded, _ = degrade(clean, self.sr, rng, self.cfg.degrade, names=self.degradations, speech=self.clean)
        if self.noise and degraded is not clean:  # after the simulator: recorded noise on top of whatever damage it did
            degraded = np.clip(self.noise.apply(degraded, rng), -1, 1)
        if factor < 1 and self.cut_slowed and degraded is not clean:
            degraded = self._band_edge(degraded, factor)
        as_t = lambda a: torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).unsqueeze(0)  # noqa: E731
        return as_t(degraded), as_t(clean)


class ShardedBatches(Sampler[list[int]]):
    """Batches of item indices without end: batch ``g`` holds items ``g*B ... g*B + B-1``, and the rank
    ``r`` of ``world`` training processes takes batches ``start + r, start + r + world, ...``.

    The data position is one global batch number: a run resumed with another number of processes goes
    on from where all of them were together, and one process reads exactly the batches of the stream.
    """

    def __init__(self, start: int, batch_size: int, rank: int = 0, world: int = 1):
        if not 0 <= rank < world:
            raise ValueError(f"rank {rank} out of range for a world of {world}")
        self.start, self.batch_size, self.rank, self.world = start, batch_size, rank, world

    def __iter__(self):
        g = self.start + self.rank
        while True:
            yield list(range(g * self.batch_size, (g + 1) * self.batch_size))
            g += self.world


def make_loader(dataset: EnhancementDataset, start_batch: int, rank: int = 0, world: int = 1) -> DataLoader:
    """Batches from global batch number ``start_batch`` on, this rank's share of them (exact resume: each
    batch is a pure function of its number)."""
    cfg = dataset.cfg
    return DataLoader(dataset, batch_sampler=ShardedBatches(start_batch, cfg.batch_size, rank, world),
                      num_workers=cfg.num_workers, persistent_workers=cfg.num_workers > 0,
                      prefetch_factor=2 if cfg.num_workers > 0 else None)
