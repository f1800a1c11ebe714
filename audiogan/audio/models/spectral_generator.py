"""The very deep 1-D convolutional generator on STFT frames: it outputs a gain per time-frequency bin.

Shape (``n_fft = 512``, hop 128, ``F = 257`` bins)::

    x (B, 1, T) ──pad to a multiple of hop──> STFT (Hann, centred) ──> X (B, F, N frames), complex
      features: log(|X| + 1e-4) / 4                       (B, F, N)
      in:       conv 1x1, F -> C                           (B, C, N)
      body:     growing residual stack of dilated convs    (B, C, N)   over frames (time)
      out:      LeakyReLU, conv 1x1, C -> F                (B, F, N)
    gain = max_gain * sigmoid(out + logit(1 / max_gain))   in (0, max_gain); 1 when out = 0
    y = iSTFT(gain * X) ──crop to T──> (B, 1, T)

At full depth it has ``2 * blocks + 2`` conv layers (34 for 16 blocks). The last conv starts at a
hundredth of its initial scale, so the untrained generator is close to the identity, as the
waveform-domain generator is. The gain changes the input's magnitudes and keeps its phase: the
generator removes noise and reshapes spectra, but cannot invent content the input lacks (a band
that was cut stays cut), so it does not add the kind of error that PESQ punishes most. Why: the
waveform-domain generator (``kind: waveform``), trained for the 2,000 steps a CPU session allows,
lowered PESQ on every degradation family of the held-out set, while a gain is the identity at its
start and learns to suppress noise within a few hundred steps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from ...gan import GrowingResidualStack, conv
from .blocks import (body_frames, check_body, residual_body, scale_weight_, stft_receptive_field,
                     valid_length)

Tensor = torch.Tensor
LOG_EPS = 1e-4  # magnitude floor of the features (-80 dB re full scale)


@dataclass
class SpectralGainConfig:
    """The STFT-gain generator (the shipped kind)."""

    __pydantic_config__ = {"extra": "forbid"}

    kind: Literal["spectral_gain"] = "spectral_gain"
    channels: int = 128  # body width C
    blocks: int = 16  # residual blocks in the body, 2 conv layers each
    kernel_size: int = 3  # body conv kernel (odd), over frames
    dilation_cycle: int = 4  # dilations 1, 2, .., 2^(cycle-1), repeated
    norm: str = "none"  # none | weight (conv normalisation in the generator)
    n_fft: int = 512  # STFT window (Hann); hop n_fft / 4
    max_gain: float = 2.0  # gains lie in (0, max_gain); 1 (identity) at the start

    def __post_init__(self) -> None:
        check_body(self.channels, self.blocks, self.kernel_size, self.dilation_cycle, self.norm)
        if self.n_fft < 16 or self.n_fft % 4 or self.max_gain <= 1:
            raise ValueError("generator.n_fft must be a multiple of 4 (>= 16) and max_gain > 1")

    @property
    def hop(self) -> int:
        return self.n_fft // 4

    @property
    def conv_layers(self) -> int:
        return 2 * self.blocks + 2

    def receptive_field(self, depth: int | None = None) -> int:
        """Input samples that can influence one output sample at body depth ``depth`` (default: full)."""
        frames = body_frames(self.blocks if depth is None else depth, self.kernel_size, self.dilation_cycle)
        return stft_receptive_field(frames, self.hop, self.n_fft)


class SpectralGainGenerator(nn.Module):
    """``(B, 1, T) -> (B, 1, T)`` for any ``T``; see the module docstring."""

    def __init__(self, cfg: SpectralGainConfig):
        super().__init__()
        self.cfg = cfg
        bins = cfg.n_fft // 2 + 1
        self.register_buffer("window", torch.hann_window(cfg.n_fft), persistent=False)
        self.to_body = conv(1, bins, cfg.channels, 1)
        self.body = GrowingResidualStack(
            residual_body(cfg.channels, cfg.blocks, cfg.kernel_size, cfg.dilation_cycle, cfg.norm))
        self.act = nn.LeakyReLU(0.2)
        self.to_gain = conv(1, cfg.channels, bins, 1)
        scale_weight_(self.to_gain, 0.01)
        nn.init.zeros_(self.to_gain.bias)
        self.gain_offset = math.log(1.0 / (cfg.max_gain - 1.0))  # sigmoid(offset) * max_gain = 1

    def gain(self, magnitude: Tensor, depth: int | None = None, alpha: float = 1.0, fade_blocks: int = 1) -> Tensor:
        """Gains ``(B, F, N)`` for magnitudes ``(B, F, N)``."""
        h = self.body(self.to_body(torch.log(magnitude + LOG_EPS) / 4), depth, alpha, fade_blocks)
        return self.cfg.max_gain * torch.sigmoid(self.to_gain(self.act(h)) + self.gain_offset)

    def forward(self, x: Tensor, depth: int | None = None, alpha: float = 1.0, fade_blocks: int = 1) -> Tensor:
        length, hop, n_fft = x.shape[-1], self.cfg.hop, self.cfg.n_fft
        padded = valid_length(length, hop)
        h = nn.functional.pad(x.reshape(-1, length).float(), (0, padded - length))
        spec = torch.stft(h, n_fft, hop, window=self.window, center=True, pad_mode="constant", return_complex=True)
        magnitude = (spec.real.square() + spec.imag.square() + 1e-12).sqrt()
        y = torch.istft(spec * self.gain(magnitude, depth, alpha, fade_blocks), n_fft, hop, window=self.window,
                        center=True, length=padded)
        return y[:, :length].reshape(*x.shape[:-1], length).to(x.dtype)
