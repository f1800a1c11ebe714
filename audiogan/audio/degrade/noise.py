"""Non-stationary noise made here: multi-talker babble, modulated and bursty noise, mains hum, clicks,
music-like tones and drifting noise textures, each mixed at an SNR from 30 dB (strength 0) down to 0 dB (strength 1).

Real recorded noise (DEMAND, MUSAN, ...) is never shipped or fetched: a user's own folder of recordings is
mixed in by the dataset (``data.noise``), and the recorded sounds that system packages ship are kept for
evaluation. Babble is made from the training speech itself (other utterances of the corpus, the
``pool`` the dataset passes in), so it is as close to real babble as the training voices allow.
"""

from __future__ import annotations

import numpy as np

from .base import lerp


def mix_at_snr(x: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """``x + g * noise`` with ``g`` chosen so that ``10 log10(P_x / P_(g noise)) = snr_db`` (powers over
    the whole signal; a silent ``noise`` is returned unchanged as ``x``)."""
    p_x = float(np.mean(np.square(x, dtype=np.float64))) or 1e-8
    p_n = float(np.mean(np.square(noise, dtype=np.float64)))
    if p_n <= 0:
        return x.astype(np.float32)
    return (x + noise * np.sqrt(p_x / (p_n * 10 ** (snr_db / 10)))).astype(np.float32)


def _snr(strength: float, rng: np.random.Generator) -> float:
    return lerp(30.0, 0.0, strength + rng.uniform(-0.1, 0.1))


def _pink(n: int, rng: np.random.Generator) -> np.ndarray:
    spec = np.fft.rfft(rng.standard_normal(n))
    return np.fft.irfft(spec / np.sqrt(np.maximum(np.fft.rfftfreq(n), 1.0 / n)), n)


def babble(x: np.ndarray, sr: int, rng: np.random.Generator, strength: float,
           pool: list[np.ndarray] | None = None) -> np.ndarray:
    """3 to 8 other talkers from ``pool`` (random utterances, offsets and levels within 6 dB), summed."""
    if not pool:
        raise ValueError("babble needs a pool of speech (the dataset passes its corpus)")
    n = len(x)
    mix = np.zeros(n, dtype=np.float64)
    for _ in range(int(rng.integers(3, 9))):
        talker = pool[int(rng.integers(len(pool)))]
        if len(talker) >= n:
            start = int(rng.integers(0, len(talker) - n + 1))
            seg = talker[start:start + n]
        else:
            seg = np.roll(np.resize(talker, n), int(rng.integers(n)))
        rms = float(np.sqrt(np.mean(np.square(seg, dtype=np.float64)))) or 1.0
        mix += seg / rms * 10 ** (rng.uniform(-6, 0) / 20)
    return mix_at_snr(x, mix, _snr(strength, rng))


def modulated_noise(x: np.ndarray, sr: int, rng: np.random.Generator, strength: float) -> np.ndarray:
    """Pink noise under a random slow envelope (0.3 to 4 Hz, depth up to 90 %): traffic, wind, a fan
    whose speed drifts."""
    n = len(x)
    t = np.arange(n) / sr
    env = np.ones(n)
    for _ in range(2):
        env *= 1 + rng.uniform(0.3, 0.9) * np.sin(2 * np.pi * rng.uniform(0.3, 4.0) * t + rng.uniform(0, 2 * np.pi))
    return mix_at_snr(x, _pink(n, rng) * env, _snr(strength, rng))


def bursty_noise(x: np.ndarray, sr: int, rng: np.random.Generator, strength: float) -> np.ndarray:
    """Short bursts of band-passed noise (50 to 400 ms, 1 to 4 per second): doors, dishes, keyboards."""
    from scipy.signal import butter, sosfilt

    n = len(x)
    noise = np.zeros(n)
    count = max(1, int(rng.uniform(1, 4) * n / sr))
    for _ in range(count):
        length = min(n, int(rng.uniform(0.05, 0.4) * sr))
        start = int(rng.integers(0, n - length + 1))
        lo = rng.uniform(100, 0.25 * sr)
        sos = butter(2, [lo, min(lo * rng.uniform(2, 8), 0.45 * sr)], btype="band", fs=sr, output="sos")
        burst = sosfilt(sos, rng.standard_normal(length)) * np.exp(-np.arange(length) / (rng.uniform(0.1, 0.5) * length))
        noise[start:start + length] += burst * 10 ** (rng.uniform(-10, 0) / 20)
    return mix_at_snr(x, noise, _snr(strength, rng))


def hum(x: np.ndarray, sr: int, rng: np.random.Generator, strength: float) -> np.ndarray:
    """Mains hum: 50 or 60 Hz and its harmonics up to 1 kHz, with a slight drift, plus a little hiss."""
    n = len(x)
    t = np.arange(n) / sr
    f0 = float(rng.choice([50.0, 60.0])) * (1 + rng.uniform(-0.01, 0.01))
    tone = np.zeros(n)
    for k in range(1, int(1000 // f0) + 1):
        tone += rng.uniform(0.1, 1.0) / k * np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 2 * np.pi))
    return mix_at_snr(x, tone + 0.02 * rng.standard_normal(n), _snr(strength, rng))


def clicks(x: np.ndarray, sr: int, rng: np.random.Generator, strength: float) -> np.ndarray:
    """Impulsive clicks and crackle (5 to 60 per second, each a decaying 0.2 to 3 ms spike)."""
    n = len(x)
    noise = np.zeros(n)
    count = max(1, int(rng.uniform(5, 60) * n / sr))
    for pos in rng.integers(0, n, size=count):
        length = max(2, int(rng.uniform(0.0002, 0.003) * sr))
        end = min(n, pos + length)
        noise[pos:end] += rng.choice([-1.0, 1.0]) * rng.uniform(0.2, 1.0) * np.exp(-np.arange(end - pos) / (length / 4))
    return mix_at_snr(x, noise, _snr(strength, rng))


def tones(x: np.ndarray, sr: int, rng: np.random.Generator, strength: float) -> np.ndarray:
    """Music-like background: a sequence of notes (equal-tempered, 110 to 880 Hz) with a few harmonics
    and decaying envelopes, chords of 1 to 3 notes."""
    n = len(x)
    music = np.zeros(n)
    pos = 0
    while pos < n:
        length = min(n - pos, int(rng.uniform(0.15, 0.6) * sr))
        t = np.arange(length) / sr
        env = np.exp(-t / rng.uniform(0.1, 0.5)) * np.minimum(1.0, t / 0.01)
        for _ in range(int(rng.integers(1, 4))):
            f = 110.0 * 2 ** (int(rng.integers(0, 37)) / 12)
            for k in range(1, 5):
                if k * f < 0.45 * sr:
                    music[pos:pos + length] += env * 0.6 ** k * np.sin(2 * np.pi * k * f * t + rng.uniform(0, 6.3))
        pos += length
    return mix_at_snr(x, music, _snr(strength, rng))


def _random_colour(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Gains per rFFT bin of a random spectral envelope: 6 to 12 log-spaced anchors from 50 Hz to Nyquist,
    each -30 to 0 dB, joined linearly in log frequency and dB."""
    freqs = np.fft.rfftfreq(n, 1 / sr)
    anchors = np.geomspace(50.0, sr / 2, int(rng.integers(6, 13)))
    db = np.interp(np.log(np.maximum(freqs, 25.0)), np.log(anchors), rng.uniform(-30.0, 0.0, len(anchors)))
    return 10 ** (db / 20)


def _slow_curve(n: int, sr: int, rng: np.random.Generator, low: float, high: float) -> np.ndarray:
    """A smooth random curve in [-1, 1]: three sinusoids of random rates in [low, high] Hz, normalised."""
    t = np.arange(n) / sr
    curve = sum(rng.uniform(0.3, 1.0) * np.sin(2 * np.pi * rng.uniform(low, high) * t + rng.uniform(0, 2 * np.pi))
                for _ in range(3))
    return curve / max(float(np.abs(curve).max()), 1e-9)


def texture(x: np.ndarray, sr: int, rng: np.random.Generator, strength: float) -> np.ndarray:
    """A noise of random colour that drifts (a crossfade between two random spectral envelopes, 0.2 to 2
    Hz) under a level that swells and falls by up to 15 dB (0.1 to 3 Hz): machinery, wind, rain, a
    crowd's roar, traffic at a distance. The colours span 30 dB, so a texture can sit under speech's
    formants or far from them, unlike the three fixed slopes of ``noise``."""
    n = len(x)
    a, b = (np.fft.irfft(np.fft.rfft(rng.standard_normal(n)) * _random_colour(n, sr, rng), n) for _ in range(2))
    mix = 0.5 + 0.5 * _slow_curve(n, sr, rng, 0.2, 2.0)
    level = 10 ** (rng.uniform(0.0, 15.0) * _slow_curve(n, sr, rng, 0.1, 3.0) / 20)
    return mix_at_snr(x, (np.sqrt(1 - mix) * a + np.sqrt(mix) * b) * level, _snr(strength, rng))
