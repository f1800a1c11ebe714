"""The degradation simulator: what the enhancer learns to undo.

Every degradation is a named, seeded function ``f(x, sr, rng, strength) -> y``: ``x`` mono float32
``(T,)`` at ``sr`` Hz, ``strength`` in [0, 1] (0 mild, 1 severe), ``y`` the same length and rate. Real
codecs run through their command-line tools (codec2, Opus, LAME); a degradation whose tool is missing
is skipped with one warning naming the Debian package, never a crash.

Families: ``codec`` (codec2, opus, mp3), ``vocoder`` (Griffin-Lim from a mel spectrogram, mel-envelope
smearing with the original phase, phase noise), ``band`` (low-pass), ``quant`` (uniform quantisation,
mu-law), ``clip``, ``noise`` (white/pink/brown), ``reverb`` (short synthetic room), and ``ambient``
(non-stationary noise made here: babble of other talkers, modulated and bursty noise, hum, clicks,
music-like tones, drifting noise textures of random colour). The first seven families (:data:`CLASSIC`) are
the default of a config and of a held-out set, as they were before ``ambient`` existed, so older recipes and
sets stay as they were.
"""

from __future__ import annotations

import shutil
import warnings
from dataclasses import dataclass, field

import numpy as np

from ...errors import ConfigError
from .base import Degradation
from .codecs import codec2, mp3, opus
from .noise import babble, bursty_noise, clicks, hum, modulated_noise, texture, tones
from .signal_level import bandlimit, clipping, mulaw, noise, quantize, reverb
from .vocoders import griffin_lim, mel_smear, phase_noise

__all__ = ["CLASSIC", "DEGRADATIONS", "DegradeConfig", "Degradation", "available", "degrade"]

DEGRADATIONS: dict[str, Degradation] = {d.name: d for d in [
    Degradation("codec2", "codec", codec2, ("c2enc", "c2dec"), "codec2"),
    Degradation("opus", "codec", opus, ("opusenc", "opusdec"), "opus-tools"),
    Degradation("mp3", "codec", mp3, ("lame",), "lame"),
    Degradation("griffin_lim", "vocoder", griffin_lim),
    Degradation("mel_smear", "vocoder", mel_smear),
    Degradation("phase_noise", "vocoder", phase_noise),
    Degradation("bandlimit", "band", bandlimit),
    Degradation("quantize", "quant", quantize),
    Degradation("mulaw", "quant", mulaw),
    Degradation("clipping", "clip", clipping),
    Degradation("noise", "noise", noise),
    Degradation("reverb", "reverb", reverb),
    Degradation("babble", "ambient", babble, needs_pool=True),
    Degradation("modulated_noise", "ambient", modulated_noise),
    Degradation("bursty_noise", "ambient", bursty_noise),
    Degradation("hum", "ambient", hum),
    Degradation("clicks", "ambient", clicks),
    Degradation("tones", "ambient", tones),
    Degradation("texture", "ambient", texture),
]}
CLASSIC = [name for name, d in DEGRADATIONS.items() if d.family != "ambient"]

_warned: set[str] = set()


def available(names: list[str] | None = None) -> list[str]:
    """The degradations among ``names`` (default all) whose tools are installed; warns once per missing one."""
    result = []
    for name in names or list(DEGRADATIONS):
        if name not in DEGRADATIONS:
            raise ConfigError(f"unknown degradation {name!r}; valid: {', '.join(DEGRADATIONS)}")
        d = DEGRADATIONS[name]
        missing = [t for t in d.tools if shutil.which(t) is None]
        if missing:
            if name not in _warned:
                _warned.add(name)
                warnings.warn(f"degradation {name!r} skipped: {', '.join(missing)} not found "
                              f"(apt-get install {d.package})", stacklevel=2)
            continue
        result.append(name)
    return result


@dataclass
class DegradeConfig:
    """Which degradations, how many in a chain and how strong."""

    __pydantic_config__ = {"extra": "forbid"}

    names: list[str] = field(default_factory=lambda: list(CLASSIC))
    max_chain: int = 2  # a chain has 1..max_chain distinct degradations, in random order
    min_strength: float = 0.2
    max_strength: float = 1.0

    def __post_init__(self) -> None:  # a misspelt name is refused where the config is read, naming its key
        unknown = [name for name in self.names if name not in DEGRADATIONS]
        if unknown:
            raise ValueError(f"names must be known degradations, got {unknown[0]!r} (valid: {', '.join(DEGRADATIONS)})")


def degrade(x: np.ndarray, sr: int, rng: np.random.Generator, config: DegradeConfig,
            names: list[str] | None = None, speech: list[np.ndarray] | None = None) -> tuple[np.ndarray, list[str]]:
    """A random chain of available degradations at random strengths; returns ``(y, applied names)``.

    ``speech``: other utterances for the degradations that need them (babble); without it they are left
    out of the draw. The output is rescaled to the input's peak (codecs and filters change level) and
    clipped to [-1, 1].
    """
    pool = names if names is not None else available(config.names)
    if not speech:
        pool = [name for name in pool if not DEGRADATIONS[name].needs_pool]
    if not pool:
        return x.astype(np.float32), []
    k = int(rng.integers(1, min(config.max_chain, len(pool)) + 1))
    chain = list(rng.choice(pool, size=k, replace=False))
    y = x.astype(np.float32)
    for name in chain:
        strength = float(rng.uniform(config.min_strength, config.max_strength))
        d = DEGRADATIONS[name]
        y = d.fn(y, sr, rng, strength, speech) if d.needs_pool else d.fn(y, sr, rng, strength)
    peak_in, peak_out = float(np.abs(x).max()), float(np.abs(y).max())
    if peak_out > 0 and peak_in > 0:
        y = y * (peak_in / peak_out)
    y = np.nan_to_num(np.clip(y, -1, 1)).astype(np.float32)
    return y, chain
