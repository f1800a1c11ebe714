"""The audio critic: multi-resolution STFT, multi-scale and multi-period waveform sub-critics, spectral norm
on every conv.

Each sub-critic is ``stem -> growing residual stack -> head`` and yields a map of patch scores; the
critic returns ``(scores (B, n_sub), features)`` with one score per sub-critic (the mean of its patch
map, so the scale does not depend on the clip length) and every intermediate activation for feature
matching. No sigmoid, no batch norm: it is a Wasserstein critic regularised by spectral norm, L2 and
drift penalties (set in the adversarial config). Its residual stacks take ``depth``/``alpha`` so the
critic can grow layer by layer, like the generator.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from ...gan import GrowingResidualStack, apply_spectral_norm, conv

Tensor = torch.Tensor


@dataclass
class CriticConfig:
    __pydantic_config__ = {"extra": "forbid"}

    stft_sizes: list[int] = field(default_factory=lambda: [256, 512, 1024])  # one sub-critic each
    waveform_scales: int = 1  # waveform sub-critics at rates 1, 1/2, 1/4, ...
    channels: int = 24
    blocks: int = 4  # residual blocks per sub-critic (the growable depth)
    log_floor: float = 1e-3  # magnitude floor of the log spectrogram (-60 dB); bounds its slope at 1/floor
    # Multi-period waveform sub-critics (HiFi-GAN's MPD: 2, 3, 5, 7, 11): each folds the waveform into
    # rows of ``period`` samples, so it sees periodicity and phase that the STFT critics' magnitudes hide.
    periods: list[int] = field(default_factory=list)
    # In training, the critic scores one random crop of this many samples per batch (0 = the whole input):
    # the 2-D spectrogram critics cost most of an iteration, and the generator still trains on whole segments.
    crop: int = 0

    def __post_init__(self) -> None:
        if not self.stft_sizes and self.waveform_scales < 1 and not self.periods:
            raise ValueError("critic needs at least one STFT size, waveform scale or period")
        if self.channels < 4 or self.blocks < 1 or self.waveform_scales < 0:
            raise ValueError("critic.channels must be >= 4, blocks >= 1 and waveform_scales >= 0")
        if self.crop < 0 or (self.crop and self.crop < max(self.stft_sizes + [1024])):
            raise ValueError("critic.crop must be 0 (off) or at least the largest STFT size (and 1024) samples")
        if any(n < 16 for n in self.stft_sizes) or any(p < 2 for p in self.periods) or self.log_floor <= 0:
            raise ValueError("critic.stft_sizes must be >= 16, periods >= 2 and log_floor > 0")


class _Residual2d(nn.Sequential):
    def __init__(self, c: int):
        super().__init__(nn.LeakyReLU(0.2), conv(2, c, c, 3, padding=1), nn.LeakyReLU(0.2), conv(2, c, c, 1))


class _Residual1d(nn.Sequential):
    def __init__(self, c: int, dil: int):
        super().__init__(nn.LeakyReLU(0.2), conv(1, c, c, 5, padding=2 * dil, dilation=dil),
                         nn.LeakyReLU(0.2), conv(1, c, c, 1))


class SpectrogramCritic(nn.Module):
    """Log-magnitude STFT ``(B, 1, F, frames)`` -> 2-D convs -> patch scores."""

    def __init__(self, n_fft: int, channels: int, blocks: int, log_floor: float):
        super().__init__()
        self.n_fft, self.hop, self.log_floor = n_fft, n_fft // 4, log_floor
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        # Downsample 4x in frequency and 2x in time before the residual stack: that stack runs on
        # F/4 x frames/2 positions, which keeps the critic about as cheap as the generator.
        self.stem = nn.Sequential(conv(2, 1, channels, (7, 3), stride=(2, 1), padding=(3, 1)),
                                  nn.LeakyReLU(0.2),
                                  conv(2, channels, channels, (5, 4), stride=(2, 2), padding=(2, 1)))
        self.body = GrowingResidualStack([_Residual2d(channels) for _ in range(blocks)])
        self.head = nn.Sequential(nn.LeakyReLU(0.2), conv(2, channels, 1, 3, padding=1))

    def forward(self, x: Tensor, depth=None, alpha=1.0, fade_blocks=1) -> tuple[Tensor, list[Tensor]]:
        spec = torch.stft(x.squeeze(1).float(), self.n_fft, self.hop, window=self.window, return_complex=True)
        mag = (spec.real.pow(2) + spec.imag.pow(2) + 1e-12).sqrt() / self.window.sum()
        h = torch.log(mag + self.log_floor).unsqueeze(1)
        h = self.stem(h)
        feats = [h]
        h = self.body(h, depth, alpha, fade_blocks)
        feats.append(h)
        return self.head(h), feats


class WaveformCritic(nn.Module):
    """Waveform at rate ``1 / 2**scale`` -> strided 1-D convs (x16 down) -> patch scores (MelGAN-like)."""

    def __init__(self, scale: int, channels: int, blocks: int):
        super().__init__()
        self.pool = nn.AvgPool1d(2 ** scale, 2 ** scale) if scale else nn.Identity()
        c = channels
        self.stem = nn.Sequential(
            conv(1, 1, c // 2, 15, padding=7), nn.LeakyReLU(0.2),
            conv(1, c // 2, c, 16, stride=4, padding=6, groups=1), nn.LeakyReLU(0.2),
            conv(1, c, c, 16, stride=4, padding=6, groups=4))
        self.body = GrowingResidualStack([_Residual1d(c, 2 ** (i % 3)) for i in range(blocks)])
        self.head = nn.Sequential(nn.LeakyReLU(0.2), conv(1, c, 1, 3, padding=1))

    def forward(self, x: Tensor, depth=None, alpha=1.0, fade_blocks=1) -> tuple[Tensor, list[Tensor]]:
        h = self.stem(self.pool(x))
        feats = [h]
        h = self.body(h, depth, alpha, fade_blocks)
        feats.append(h)
        return self.head(h), feats


class PeriodCritic(nn.Module):
    """Waveform folded by ``period`` ``(B, 1, T / p, p)`` -> 2-D convs along time only -> patch scores.

    Kernels are ``(k, 1)``: every column (one phase of the period) is read on its own, with shared weights,
    as in HiFi-GAN's multi-period discriminator (Kong et al. 2020).
    """

    def __init__(self, period: int, channels: int, blocks: int):
        super().__init__()
        self.period = period
        c = channels
        self.stem = nn.Sequential(
            conv(2, 1, c // 2, (5, 1), stride=(3, 1), padding=(2, 0)), nn.LeakyReLU(0.2),
            conv(2, c // 2, c, (5, 1), stride=(3, 1), padding=(2, 0)), nn.LeakyReLU(0.2),
            conv(2, c, c, (5, 1), stride=(3, 1), padding=(2, 0)))
        self.body = GrowingResidualStack([_ResidualPeriod(c) for _ in range(blocks)])
        self.head = nn.Sequential(nn.LeakyReLU(0.2), conv(2, c, 1, (3, 1), padding=(1, 0)))

    def forward(self, x: Tensor, depth=None, alpha=1.0, fade_blocks=1) -> tuple[Tensor, list[Tensor]]:
        b, _, t = x.shape
        pad = (-t) % self.period
        if pad:
            x = nn.functional.pad(x, (0, pad), mode="reflect" if pad < t else "constant")
        h = self.stem(x.float().reshape(b, 1, -1, self.period))
        feats = [h]
        h = self.body(h, depth, alpha, fade_blocks)
        feats.append(h)
        return self.head(h), feats


class _ResidualPeriod(nn.Sequential):
    def __init__(self, c: int):
        super().__init__(nn.LeakyReLU(0.2), conv(2, c, c, (5, 1), padding=(2, 0)), nn.LeakyReLU(0.2),
                         conv(2, c, c, 1))


class AudioCritic(nn.Module):
    """``x (B, 1, T) -> (scores (B, n_sub), features)``; see the module docstring."""

    def __init__(self, cfg: CriticConfig):
        super().__init__()
        self.cfg = cfg
        subs: list[nn.Module] = [SpectrogramCritic(n, cfg.channels, cfg.blocks, cfg.log_floor) for n in cfg.stft_sizes]
        subs += [WaveformCritic(s, cfg.channels, cfg.blocks) for s in range(cfg.waveform_scales)]
        subs += [PeriodCritic(p, cfg.channels, cfg.blocks) for p in cfg.periods]
        self.subs = nn.ModuleList(subs)
        apply_spectral_norm(self)

    def forward(self, x: Tensor, depth: int | None = None, alpha: float = 1.0,
                fade_blocks: int = 1) -> tuple[Tensor, list[Tensor]]:
        if self.training and self.cfg.crop and x.shape[-1] > self.cfg.crop:
            start = int(torch.randint(0, x.shape[-1] - self.cfg.crop + 1, ()))
            x = x[..., start:start + self.cfg.crop]
        scores, feats = [], []
        for sub in self.subs:
            s, f = sub(x, depth, alpha, fade_blocks)
            scores.append(s.flatten(1).mean(dim=1))
            feats.extend(f)
        return torch.stack(scores, dim=1), feats
