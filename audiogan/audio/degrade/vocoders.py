"""Vocoder-like resynthesis: Griffin-Lim from a mel spectrogram, mel-envelope smearing, phase noise."""

from __future__ import annotations

import functools

import numpy as np

from ..data.signal import fit_length
from .base import lerp


def griffin_lim(x: np.ndarray, sr: int, rng: np.random.Generator, strength: float) -> np.ndarray:
    """Mel spectrogram (80 bands) inverted by Griffin-Lim: 32 iterations (mild) to 4 (severe)."""
    import librosa

    n_iter = int(round(lerp(32, 4, strength)))
    mel = librosa.feature.melspectrogram(y=x, sr=sr, n_fft=1024, hop_length=256, n_mels=80, power=1.0)
    stft_mag = librosa.feature.inverse.mel_to_stft(mel, sr=sr, n_fft=1024, power=1.0)
    y = librosa.griffinlim(stft_mag, n_iter=n_iter, hop_length=256, length=len(x),
                           random_state=int(rng.integers(2 ** 31)))
    return fit_length(y, len(x))


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

    n_mels = int(round(lerp(64, 16, strength)))
    spec = librosa.stft(x, n_fft=512, hop_length=128)
    env = _mel_projection(sr, 512, n_mels) @ np.abs(spec)
    y = librosa.istft(np.maximum(env, 0.0) * np.exp(1j * np.angle(spec)), hop_length=128, length=len(x))
    return fit_length(y, len(x))


def phase_noise(x: np.ndarray, sr: int, rng: np.random.Generator, strength: float) -> np.ndarray:
    """STFT phase perturbed by uniform noise up to 0.3 pi (mild) to pi (severe): phasey vocoder sound."""
    import librosa

    spec = librosa.stft(x, n_fft=512, hop_length=128)
    noise = rng.uniform(-1, 1, spec.shape) * np.pi * lerp(0.3, 1.0, strength)
    y = librosa.istft(spec * np.exp(1j * noise), hop_length=128, length=len(x))
    return fit_length(y, len(x))


