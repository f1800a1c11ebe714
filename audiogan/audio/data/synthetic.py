"""Speech-like signals rendered here: for tests and the debug config, no file and no external tool."""

from __future__ import annotations

import numpy as np


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


