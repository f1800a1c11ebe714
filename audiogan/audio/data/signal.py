"""Small signal helpers shared by the simulator, the corpus tools, the dataset and the enhancer."""

from __future__ import annotations

import numpy as np


def fit_length(y: np.ndarray, n: int) -> np.ndarray:
    """``y`` (float32) cut or zero-padded at the end to ``n`` samples along axis 0."""
    y = np.asarray(y, dtype=np.float32)
    if len(y) >= n:
        return y[:n]
    return np.pad(y, [(0, n - len(y))] + [(0, 0)] * (y.ndim - 1))


def peak_normalize(x: np.ndarray, peak: float = 0.9, floor: float = 1e-4) -> np.ndarray:
    """``x`` scaled so its largest magnitude is ``peak``; a signal quieter than ``floor`` is scaled as if
    its peak were ``floor`` (silence is not blown up into noise)."""
    return peak * x / max(float(np.abs(x).max()), floor)  # this order: the corpora it made stay bit-identical


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))
