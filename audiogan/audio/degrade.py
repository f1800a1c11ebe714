"""The degradation simulator: what the enhancer learns to undo.

Every degradation is a named, seeded function ``f(x, sr, rng, strength) -> y``: ``x`` mono float32
``(T,)`` at ``sr`` Hz, ``strength`` in [0, 1] (0 mild, 1 severe), ``y`` the same length and rate. Real
codecs run through their command-line tools (codec2, Opus, LAME); a degradation whose tool is missing
is skipped with one warning naming the Debian package, never a crash.

Families: ``codec`` (codec2, opus, mp3), ``vocoder`` (Griffin-Lim from a mel spectrogram, mel-envelope
smearing with the original phase, phase noise), ``band`` (low-pass), ``quant`` (uniform quantisation,
mu-law), ``clip``, ``noise`` (white/pink/brown), ``reverb`` (short synthetic room).
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import soundfile as sf

from .io import resample

Degrader = Callable[[np.ndarray, int, np.random.Generator, float], np.ndarray]


@dataclass(frozen=True)
class Degradation:
    name: str
    family: str
    fn: Degrader
    tools: tuple[str, ...] = ()  # command-line tools it needs
    package: str = ""  # the Debian package that provides them


def _lerp(lo: float, hi: float, s: float) -> float:
    return lo + (hi - lo) * float(np.clip(s, 0.0, 1.0))


def _fit(y: np.ndarray, n: int) -> np.ndarray:
    y = np.asarray(y, dtype=np.float32)
    return y[:n] if len(y) >= n else np.pad(y, (0, n - len(y)))


def _envelope(x: np.ndarray, width: int = 32) -> np.ndarray:
    env = np.convolve(np.abs(x), np.ones(width) / width, mode="same")
    return env - env.mean()


def align(y: np.ndarray, x: np.ndarray, max_lag: int = 2048) -> np.ndarray:
    """Shift ``y`` to line up with ``x`` (codec delays), by the peak of the cross-correlation of their
    amplitude envelopes: robust to parametric codecs (codec2) that do not keep the waveform's phase."""
    n = len(x)
    size = 1 << int(np.ceil(np.log2(2 * n + 1)))
    corr = np.fft.irfft(np.fft.rfft(_envelope(y), size) * np.conj(np.fft.rfft(_envelope(x), size)), size)
    lags = np.concatenate([np.arange(0, max_lag + 1), np.arange(-max_lag, 0)])
    lag = int(lags[np.argmax(corr[lags])])
    if lag > 0:
        y = y[lag:]
    elif lag < 0:
        y = np.concatenate([np.zeros(-lag, dtype=np.float32), y])
    return _fit(y, n)


def _run(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed: {proc.stderr.decode(errors='replace').strip()[:200]}")


# -- codecs ------------------------------------------------------------------------------------
CODEC2_MODES = ("3200", "2400", "1600", "1400", "1300", "1200", "700C")


def codec2(x: np.ndarray, sr: int, rng: np.random.Generator, strength: float) -> np.ndarray:
    """Codec2 at a mode from 3200 bit/s (mild) to 700C (severe); runs at 8 kHz."""
    idx = int(round(_lerp(0, len(CODEC2_MODES) - 1, strength + rng.uniform(-0.15, 0.15))))
    mode = CODEC2_MODES[int(np.clip(idx, 0, len(CODEC2_MODES) - 1))]
    pcm = (np.clip(resample(x, sr, 8000), -1, 1) * 32767).astype("<i2")
    with tempfile.TemporaryDirectory() as d:
        raw, bit, out = Path(d, "in.raw"), Path(d, "c.bit"), Path(d, "out.raw")
        raw.write_bytes(pcm.tobytes())
        _run(["c2enc", mode, str(raw), str(bit)])
        _run(["c2dec", mode, str(bit), str(out)])
        y = np.frombuffer(out.read_bytes(), dtype="<i2").astype(np.float32) / 32768
    return align(resample(y, 8000, sr), x)


def opus(x: np.ndarray, sr: int, rng: np.random.Generator, strength: float) -> np.ndarray:
    """Opus at 16 kbit/s (mild) down to 6 kbit/s (severe)."""
    kbps = _lerp(16, 6, strength + rng.uniform(-0.1, 0.1))
    with tempfile.TemporaryDirectory() as d:
        wav, enc, out = Path(d, "in.wav"), Path(d, "c.opus"), Path(d, "out.wav")
        sf.write(wav, x, sr, subtype="PCM_16")
        _run(["opusenc", "--quiet", "--bitrate", f"{max(kbps, 6):.1f}", str(wav), str(enc)])
        _run(["opusdec", "--quiet", "--rate", str(sr), str(enc), str(out)])
        y, _ = sf.read(out, dtype="float32", always_2d=True)
    return align(y[:, 0], x)


def mp3(x: np.ndarray, sr: int, rng: np.random.Generator, strength: float) -> np.ndarray:
    """MP3 (LAME) at 32 kbit/s (mild) down to 8 kbit/s (severe)."""
    rates = (32, 24, 16, 8)
    kbps = rates[int(np.clip(round(_lerp(0, 3, strength + rng.uniform(-0.15, 0.15))), 0, 3))]
    with tempfile.TemporaryDirectory() as d:
        wav, enc, out = Path(d, "in.wav"), Path(d, "c.mp3"), Path(d, "out.wav")
        sf.write(wav, x, sr, subtype="PCM_16")
        _run(["lame", "--quiet", "-b", str(kbps), str(wav), str(enc)])
        _run(["lame", "--quiet", "--decode", str(enc), str(out)])
        y, ysr = sf.read(out, dtype="float32", always_2d=True)
    return align(resample(y[:, 0], ysr, sr), x)


# -- vocoder-like resynthesis ----------------------------------------------------------------------
def griffin_lim(x: np.ndarray, sr: int, rng: np.random.Generator, strength: float) -> np.ndarray:
    """Mel spectrogram (80 bands) inverted by Griffin-Lim: 32 iterations (mild) to 4 (severe)."""
    import librosa

    n_iter = int(round(_lerp(32, 4, strength)))
    mel = librosa.feature.melspectrogram(y=x, sr=sr, n_fft=1024, hop_length=256, n_mels=80, power=1.0)
    stft_mag = librosa.feature.inverse.mel_to_stft(mel, sr=sr, n_fft=1024, power=1.0)
    y = librosa.griffinlim(stft_mag, n_iter=n_iter, hop_length=256, length=len(x),
                           random_state=int(rng.integers(2 ** 31)))
    return _fit(y, len(x))


@functools.lru_cache(maxsize=16)
def _mel_projection(sr: int, n_fft: int, n_mels: int) -> np.ndarray:
    """``pinv(M) @ M`` for the mel basis ``M``: maps a magnitude spectrum to its smooth mel envelope."""
    import librosa

    basis = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels)
    return (np.linalg.pinv(basis) @ basis).astype(np.float32)


def mel_smear(x: np.ndarray, sr: int, rng: np.random.Generator, strength: float) -> np.ndarray:
    """Magnitude replaced by a coarse mel envelope (64 bands mild, 16 severe), original phase kept:
    the muffled, smeared spectrum of a low-resolution vocoder."""
    import librosa

    n_mels = int(round(_lerp(64, 16, strength)))
    spec = librosa.stft(x, n_fft=512, hop_length=128)
    env = _mel_projection(sr, 512, n_mels) @ np.abs(spec)
    y = librosa.istft(np.maximum(env, 0.0) * np.exp(1j * np.angle(spec)), hop_length=128, length=len(x))
    return _fit(y, len(x))


def phase_noise(x: np.ndarray, sr: int, rng: np.random.Generator, strength: float) -> np.ndarray:
    """STFT phase perturbed by uniform noise up to 0.3 pi (mild) to pi (severe): phasey vocoder sound."""
    import librosa

    spec = librosa.stft(x, n_fft=512, hop_length=128)
    noise = rng.uniform(-1, 1, spec.shape) * np.pi * _lerp(0.3, 1.0, strength)
    y = librosa.istft(spec * np.exp(1j * noise), hop_length=128, length=len(x))
    return _fit(y, len(x))


# -- signal-level ------------------------------------------------------------------------------
def bandlimit(x: np.ndarray, sr: int, rng: np.random.Generator, strength: float) -> np.ndarray:
    """Low-pass (8th-order Butterworth) at 7 kHz (mild) down to 2 kHz (severe), capped below Nyquist."""
    from scipy.signal import butter, sosfiltfilt

    cutoff = min(_lerp(7000, 2000, strength + rng.uniform(-0.1, 0.1)), 0.45 * sr)
    sos = butter(8, max(cutoff, 500.0), btype="low", fs=sr, output="sos")
    return sosfiltfilt(sos, x).astype(np.float32)


def quantize(x: np.ndarray, sr: int, rng: np.random.Generator, strength: float) -> np.ndarray:
    """Uniform quantisation to 10 bits (mild) down to 4 bits (severe)."""
    bits = int(round(_lerp(10, 4, strength)))
    step = 2.0 / (2 ** bits)
    return (np.round(np.clip(x, -1, 1) / step) * step).astype(np.float32)


def mulaw(x: np.ndarray, sr: int, rng: np.random.Generator, strength: float) -> np.ndarray:
    """Mu-law (mu = 255) companding with 8 (mild) down to 4 (severe) bits."""
    bits = int(round(_lerp(8, 4, strength)))
    mu = 255.0
    c = np.sign(x) * np.log1p(mu * np.abs(np.clip(x, -1, 1))) / np.log1p(mu)
    levels = 2 ** bits
    q = np.round((c + 1) / 2 * (levels - 1)) / (levels - 1) * 2 - 1
    return (np.sign(q) * ((1 + mu) ** np.abs(q) - 1) / mu).astype(np.float32)


def clipping(x: np.ndarray, sr: int, rng: np.random.Generator, strength: float) -> np.ndarray:
    """Hard clipping at 60 % (mild) down to 10 % (severe) of the peak."""
    peak = float(np.abs(x).max()) or 1.0
    level = peak * _lerp(0.6, 0.1, strength)
    return np.clip(x, -level, level).astype(np.float32)


def _colored_noise(n: int, rng: np.random.Generator, exponent: float) -> np.ndarray:
    spec = np.fft.rfft(rng.standard_normal(n))
    freqs = np.maximum(np.fft.rfftfreq(n), 1.0 / n)
    noise = np.fft.irfft(spec / freqs ** (exponent / 2), n)
    return noise / (np.std(noise) + 1e-12)


def noise(x: np.ndarray, sr: int, rng: np.random.Generator, strength: float) -> np.ndarray:
    """White, pink or brown noise at 30 dB SNR (mild) down to 0 dB (severe)."""
    snr = _lerp(30, 0, strength)
    n = _colored_noise(len(x), rng, float(rng.choice([0.0, 1.0, 2.0])))
    power = float(np.mean(x ** 2)) or 1e-8
    return (x + n * np.sqrt(power / 10 ** (snr / 10))).astype(np.float32)


def reverb(x: np.ndarray, sr: int, rng: np.random.Generator, strength: float) -> np.ndarray:
    """A short synthetic room: exponentially decaying noise, RT60 0.1 s (mild) to 0.6 s (severe)."""
    rt60 = _lerp(0.1, 0.6, strength)
    n = int(rt60 * sr)
    t = np.arange(n) / sr
    rir = rng.standard_normal(n) * np.exp(-6.9 * t / rt60)
    rir[0] = 1.0 / _lerp(0.5, 0.15, strength)  # direct path dominates for mild rooms
    wet = np.convolve(x, rir)[: len(x)]
    return (wet * (np.abs(x).max() / (np.abs(wet).max() + 1e-8))).astype(np.float32)


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
]}

_warned: set[str] = set()


def available(names: list[str] | None = None) -> list[str]:
    """The degradations among ``names`` (default all) whose tools are installed; warns once per missing one."""
    result = []
    for name in names or list(DEGRADATIONS):
        if name not in DEGRADATIONS:
            raise ValueError(f"unknown degradation {name!r}; valid: {', '.join(DEGRADATIONS)}")
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

    names: list[str] = field(default_factory=lambda: list(DEGRADATIONS))
    max_chain: int = 2  # a chain has 1..max_chain distinct degradations, in random order
    min_strength: float = 0.2
    max_strength: float = 1.0


def degrade(x: np.ndarray, sr: int, rng: np.random.Generator, config: DegradeConfig,
            names: list[str] | None = None) -> tuple[np.ndarray, list[str]]:
    """A random chain of available degradations at random strengths; returns ``(y, applied names)``.

    The output is rescaled to the input's peak (codecs and filters change level) and clipped to [-1, 1].
    """
    pool = names if names is not None else available(config.names)
    if not pool:
        return x.astype(np.float32), []
    k = int(rng.integers(1, min(config.max_chain, len(pool)) + 1))
    chain = list(rng.choice(pool, size=k, replace=False))
    y = x.astype(np.float32)
    for name in chain:
        strength = float(rng.uniform(config.min_strength, config.max_strength))
        y = DEGRADATIONS[name].fn(y, sr, rng, strength)
    peak_in, peak_out = float(np.abs(x).max()), float(np.abs(y).max())
    if peak_out > 0 and peak_in > 0:
        y = y * (peak_in / peak_out)
    y = np.nan_to_num(np.clip(y, -1, 1)).astype(np.float32)
    return y, chain
