"""A metric critic (MetricGAN+, Fu et al. 2021; CMGAN, Cao et al. 2022): a network that learns to predict the
wide-band PESQ of an output against its clean target, so the generator can climb PESQ through it.

Input: the compressed magnitudes ``|X|^0.3`` of the output and of the target, as two channels
``(B, 2, F, frames)``. Body: spectral-normalised 2-D convs (strided), a global average, and a linear layer
with a sigmoid, so the prediction lies in (0, 1) like the normalised score ``(PESQ - 1) / 3.5`` it learns.
No batch norm (it would mix the examples of a batch); spectral norm bounds its slope, as for the critics.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ...gan import apply_spectral_norm, conv

Tensor = torch.Tensor
PESQ_MIN, PESQ_RANGE = 1.0, 3.5  # wide-band PESQ lies in about [1.04, 4.64]


def normalised_pesq(score: float) -> float:
    """``(PESQ - 1) / 3.5``, clipped to [0, 1]: the metric critic's target."""
    return min(max((score - PESQ_MIN) / PESQ_RANGE, 0.0), 1.0)


@dataclass
class MetricCriticConfig:
    __pydantic_config__ = {"extra": "forbid"}

    channels: int = 16
    n_fft: int = 400  # its STFT (Hann, hop n_fft / 4)
    lr: float = 2e-4  # Adam, betas (0.5, 0.9)

    def __post_init__(self) -> None:
        if self.channels < 4 or self.n_fft < 64 or not self.lr > 0:
            raise ValueError("metric.channels must be >= 4, metric.n_fft >= 64 and metric.lr > 0")


class MetricCritic(nn.Module):
    """``(output (B, 1, T), target (B, 1, T)) -> predicted normalised PESQ (B,)``."""

    def __init__(self, cfg: MetricCriticConfig):
        super().__init__()
        self.cfg = cfg
        c = cfg.channels
        self.register_buffer("window", torch.hann_window(cfg.n_fft), persistent=False)
        layers: list[nn.Module] = []
        for i, (c_in, c_out) in enumerate([(2, c), (c, 2 * c), (2 * c, 4 * c), (4 * c, 8 * c)]):
            layers += [conv(2, c_in, c_out, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
        self.body = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Linear(8 * c, 4 * c), nn.LeakyReLU(0.2), nn.Linear(4 * c, 1))
        apply_spectral_norm(self)

    def _compressed(self, x: Tensor) -> Tensor:
        spec = torch.stft(x.reshape(-1, x.shape[-1]).float(), self.cfg.n_fft, self.cfg.n_fft // 4,
                          window=self.window, return_complex=True)
        return (spec.real.square() + spec.imag.square() + 1e-12).pow(0.15)  # |X|^0.3

    def forward(self, output: Tensor, target: Tensor) -> Tensor:
        h = torch.stack([self._compressed(output), self._compressed(target)], dim=1)
        h = self.body(h).mean(dim=(2, 3))
        return torch.sigmoid(self.head(h)).squeeze(1)
