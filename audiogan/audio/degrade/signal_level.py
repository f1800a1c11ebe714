"""Signal-level damage: low-pass, quantisation, mu-law, clipping, coloured noise, short synthetic rooms."""

from __future__ import annotations

import numpy as np

from .base import lerp


def bandlimit(x: np.ndarray, sr: int, rng: np.random.Generator, strength: float) -> np.ndarray:
    """Low-pass (8th-order Butterworth) at 7 kHz (mild) down to 2 kHz (severe), capped below Nyquist."""
    from scipy.signal import butter, sosfiltfilt

    cutoff = min(lerp(7000, 2000, strength + rng.uniform(-0.1, 0.1)), 0.45 * sr)
    sos = butter(8, max(cutoff, 500.0), btype="low", fs=sr, output="sos")
    return sosfiltfilt(sos, x).astype(np.float32)


def quantize(x: np.ndarray, sr: int, rng: np.random.Generator, strength: float) -> np.ndarray:
    """Uniform quantisation to 10 bits (mild) down to 4 bits (severe)."""
    bits = int(round(lerp(10, 4, strength)))
    step = 2.0 / (2 ** bits)
    return (np.round(np.clip(x, -1, 1) / step) * step).astype(np.float32)


def mulaw(x: np.ndarray, sr: int, rng: np.random.Generator, strength: float) -> np.ndarray:
    """Mu-law (mu = 255) companding with 8 (mild) down to 4 (severe) bits."""
    bits = int(round(lerp(8, 4, strength)))
    mu = 255.0
    c = np.sign(x) * np.log1p(mu * np.abs(np.clip(x, -1, 1))) / np.log1p(mu)
    levels = 2 ** bits
    q = np.round((c + 1) / 2 * (levels - 1)) / (levels - 1) * 2 - 1
    return (np.sign(q) * ((1 + mu) ** np.abs(q) - 1) / mu).astype(np.float32)


def clipping(x: np.ndarray, sr: int, rng: np.random.Generator, strength: float) -> np.ndarray:
    """Hard clipping at 60 % (mild) down to 10 % (severe) of the peak."""
    peak = float(np.abs(x).max()) or 1.0
    level = peak * lerp(0.6, 0.1, strength)
    return np.clip(x, -level, level).astype(np.float32)


def _colored_noise(n: int, rng: np.random.Generator, exponent: float) -> np.ndarray:
    spec = np.fft.rfft(rng.standard_normal(n))
    freqs = np.maximum(np.fft.rfftfreq(n), 1.0 / n)
    noise = np.fft.irfft(spec / freqs ** (exponent / 2), n)
    return noise / (np.std(noise) + 1e-12)


def noise(x: np.ndarray, sr: int, rng: np.random.Generator, strength: float) -> np.ndarray:
    """White, pink or brown noise at 30 dB SNR (mild) down to 0 dB (severe)."""
    snr = lerp(30, 0, strength)
    n = _colored_noise(len(x), rng, float(rng.choice([0.0, 1.0, 2.0])))
    power = float(np.mean(x ** 2)) or 1e-8
    return (x + n * np.sqrt(power / 10 ** (snr / 10))).astype(np.float32)


def reverb(x: np.ndarray, sr: int, rng: np.random.Generator, strength: float) -> np.ndarray:
    """A short synthetic room: exponentially decaying noise, RT60 0.1 s (mild) to 0.6 s (severe)."""
    rt60 = lerp(0.1, 0.6, strength)
    n = int(rt60 * sr)
    t = np.arange(n) / sr
    rir = rng.standard_normal(n) * np.exp(-6.9 * t / rt60)
    rir[0] = 1.0 / lerp(0.5, 0.15, strength)  # direct path dominates for mild rooms
    wet = np.convolve(x, rir)[: len(x)]
    return (wet * (np.abs(x).max() / (np.abs(wet).max() + 1e-8))).astype(np.float32)


