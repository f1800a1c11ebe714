"""2-D Gaussian mixtures of VEEGAN (Srivastava et al. 2017) and PacGAN (Lin et al. 2018), and their scorer.

- ``ring``: 8 Gaussians evenly spaced on the unit circle, std 0.01.
- ``grid``: 25 Gaussians at ``{-4, -2, 0, 2, 4}^2``, std 0.05.

Scorer (PacGAN, section 5.1): a generated sample is *high quality* (HQ) when it lies within 3 std of
its nearest mode; a mode is *captured* when at least one HQ sample is nearest to it; the reverse KL is
``KL(p_hq || uniform) = sum_k p_k log(K p_k)`` where ``p`` is the histogram of HQ samples over the
``K`` modes (empty modes contribute 0; with no HQ sample at all it is ``inf``). Always scored on
2,500 samples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import ConfigError

N_EVAL_SAMPLES = 2500


@dataclass(frozen=True)
class Mixture:
    name: str
    centers: np.ndarray  # (K, 2)
    std: float
    scale: float  # coordinates are divided by this for training, so both problems have unit extent

    @property
    def n_modes(self) -> int:
        return len(self.centers)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` samples ``(n, 2)`` float32, in data coordinates: uniform mode, then Gaussian noise."""
        centers = torch.as_tensor(self.centers, dtype=torch.float32)
        idx = torch.randint(len(centers), (n,), generator=generator)
        return centers[idx] + self.std * torch.randn(n, 2, generator=generator)


def ring() -> Mixture:
    angles = 2 * np.pi * np.arange(8) / 8
    return Mixture("ring", np.stack([np.cos(angles), np.sin(angles)], axis=1), std=0.01, scale=1.0)


def grid() -> Mixture:
    ticks = np.array([-4.0, -2.0, 0.0, 2.0, 4.0])
    centers = np.array([(x, y) for x in ticks for y in ticks])
    return Mixture("grid", centers, std=0.05, scale=4.0)


MIXTURES = {"ring": ring, "grid": grid}


def get_mixture(name: str) -> Mixture:
    if name not in MIXTURES:
        raise ConfigError(f"unknown data {name!r}; valid: {', '.join(MIXTURES)}")
    return MIXTURES[name]()


def score(samples: np.ndarray, mixture: Mixture) -> dict[str, float]:
    """Modes captured, HQ fraction (0..1) and reverse KL of ``samples (N, 2)`` against ``mixture``."""
    samples = np.asarray(samples, dtype=np.float64)
    if samples.ndim != 2 or samples.shape[1] != 2 or len(samples) == 0:
        raise ValueError(f"samples must have shape (N, 2), got {samples.shape}")
    dist = np.linalg.norm(samples[:, None, :] - mixture.centers[None, :, :], axis=2)  # (N, K)
    nearest = dist.argmin(axis=1)
    hq = dist[np.arange(len(samples)), nearest] <= 3 * mixture.std
    counts = np.bincount(nearest[hq], minlength=mixture.n_modes)
    k = mixture.n_modes
    if counts.sum() == 0:
        kl = math.inf
    else:
        p = counts / counts.sum()
        nz = p > 0
        kl = float(np.sum(p[nz] * np.log(k * p[nz])))
    return {"modes": int((counts > 0).sum()), "hq": float(hq.mean()), "reverse_kl": kl}
