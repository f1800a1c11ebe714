"""The phase-aware very deep generator: a 1-D conv body over STFT frames with magnitude, phase and residual heads.

Shape (``n_fft = 512``, ``hop = 128``, ``F = 257`` bins)::

    x (B, 1, T) ──pad to a multiple of hop──> STFT (Hann, centred) ──> X = |X| e^{j phi}    (B, F, N)
      features: |X|^c (c = 0.3), cos phi, sin phi                      (B, 3F, N)
      in:       conv 1x1, 3F -> C                                      (B, C, N)
      body:     growing residual stack of dilated convs over frames    (B, C, N)
      heads:    LeakyReLU, then three 1x1 convs, C -> F, 2F, 2F
        mask  m = max_gain * sigmoid(out + logit(1 / max_gain))        in (0, max_gain); 1 when out = 0
        phase d = atan2(v, 1 + u)                                      a rotation; 0 when (u, v) = 0
        extra R = (a + j b)^{1/c}-compressed, i.e. |R| = |a + j b|^{1/c}, angle(R) = angle(a + j b)
    Y = m |X| e^{j (phi + d)} + R ──iSTFT──crop to T──> (B, 1, T)

The magnitude mask and the phase are the parallel decoders of MP-SENet (Lu et al. 2023: the phase as the
angle of two conv outputs, so it is never wrapped); the additive complex residual ``R`` puts energy where
the input has none (a cut band, a codec's missing harmonics), which a mask cannot. ``R`` is predicted
in the compressed domain (the same power ``c`` as the features and the losses), so its output scale
matches speech from -60 dB to 0 dB without a huge dynamic range in the head's weights.

At its start the three heads are at a hundredth of their initial scale and their biases at zero, so
``m = 1``, ``d = 0`` and ``R ~ 0``: the untrained generator is the identity up to the heads' small noise.
At full depth it has ``2 * blocks + 4`` conv layers (36 for 16 blocks). The STFT geometry (``n_fft``,
``hop``) is part of the config: the frame rate sets both the cost and the time resolution of the body.
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
COMPRESS = 0.3  # magnitude compression of the features and of the residual head (as MP-SENet's losses)


@dataclass
class SpectralPhaseConfig:
    """The phase-aware STFT generator (magnitude mask, phase rotation, complex residual)."""

    __pydantic_config__ = {"extra": "forbid"}

    kind: Literal["spectral_phase"] = "spectral_phase"
    channels: int = 128  # body width C
    blocks: int = 16  # residual blocks in the body, 2 conv layers each
    kernel_size: int = 3  # body conv kernel (odd), over frames
    dilation_cycle: int = 4  # dilations 1, 2, .., 2^(cycle-1), repeated
    norm: str = "none"  # none | weight (conv normalisation in the generator)
    n_fft: int = 512  # STFT window (Hann)
    hop: int = 128  # STFT hop in samples; n_fft must be a multiple of it (perfect reconstruction)
    max_gain: float = 2.0  # the magnitude mask lies in (0, max_gain)
    residual: bool = True  # the additive complex residual head

    def __post_init__(self) -> None:
        check_body(self.channels, self.blocks, self.kernel_size, self.dilation_cycle, self.norm)
        if self.n_fft < 16 or self.hop < 1 or self.n_fft % self.hop or self.n_fft // self.hop < 2:
            raise ValueError("generator.n_fft must be >= 16 and a multiple (>= 2x) of generator.hop")
        if self.max_gain <= 1:
            raise ValueError("generator.max_gain must be > 1")

    @property
    def conv_layers(self) -> int:
        return 2 * self.blocks + 2 + (2 if self.residual else 1)

    def receptive_field(self, depth: int | None = None) -> int:
        """Input samples that can influence one output sample at body depth ``depth`` (default: full)."""
        frames = body_frames(self.blocks if depth is None else depth, self.kernel_size, self.dilation_cycle)
        return stft_receptive_field(frames, self.hop, self.n_fft)


class SpectralPhaseGenerator(nn.Module):
    """``(B, 1, T) -> (B, 1, T)`` for any ``T``; see the module docstring."""

    def __init__(self, cfg: SpectralPhaseConfig):
        super().__init__()
        self.cfg = cfg
        bins = cfg.n_fft // 2 + 1
        self.register_buffer("window", torch.hann_window(cfg.n_fft), persistent=False)
        self.to_body = conv(1, 3 * bins, cfg.channels, 1)
        self.body = GrowingResidualStack(
            residual_body(cfg.channels, cfg.blocks, cfg.kernel_size, cfg.dilation_cycle, cfg.norm))
        self.act = nn.LeakyReLU(0.2)
        self.to_mask = conv(1, cfg.channels, bins, 1)
        self.to_phase = conv(1, cfg.channels, 2 * bins, 1)
        self.to_residual = conv(1, cfg.channels, 2 * bins, 1) if cfg.residual else None
        for head in (self.to_mask, self.to_phase, self.to_residual):
            if head is not None:
                scale_weight_(head, 0.01)
                nn.init.zeros_(head.bias)
        self.gain_offset = math.log(1.0 / (cfg.max_gain - 1.0))  # sigmoid(offset) * max_gain = 1

    def stft(self, x: Tensor) -> Tensor:
        """Complex STFT ``(B, F, N)`` of ``x (B, T)`` with ``T`` a multiple of hop."""
        return torch.stft(x, self.cfg.n_fft, self.cfg.hop, window=self.window, center=True, pad_mode="constant",
                          return_complex=True)

    def spectrum(self, spec: Tensor, depth: int | None = None, alpha: float = 1.0, fade_blocks: int = 1) -> Tensor:
        """The enhanced complex spectrum for the input spectrum ``spec (B, F, N)``."""
        # Contiguous copies first: arithmetic on the strided views ``spec.real``/``spec.imag`` ran about 20x
        # slower on CPU, which made these element-wise steps as costly as the whole conv body.
        re, im = (part.contiguous() for part in torch.view_as_real(spec).unbind(-1))
        magnitude = (re.square() + im.square() + 1e-12).sqrt()
        cos, sin = re / magnitude, im / magnitude
        features = torch.cat([magnitude.pow(COMPRESS), cos, sin], dim=1)
        h = self.act(self.body(self.to_body(features), depth, alpha, fade_blocks))
        mask = self.cfg.max_gain * torch.sigmoid(self.to_mask(h) + self.gain_offset)
        u, v = self.to_phase(h).chunk(2, dim=1)
        # (1 + u, v) is the unit phasor's rotation, normalised: no atan2 needed, and it is exact at u = v = 0.
        norm = ((1 + u).square() + v.square() + 1e-12).sqrt()
        rot_cos, rot_sin = (1 + u) / norm, v / norm
        scaled = mask * magnitude
        real = scaled * (cos * rot_cos - sin * rot_sin)
        imag = scaled * (sin * rot_cos + cos * rot_sin)
        if self.to_residual is not None:
            a, b = self.to_residual(h).chunk(2, dim=1)
            r = (a.square() + b.square() + 1e-12).sqrt()
            expand = r.pow(1.0 / COMPRESS - 1.0)  # |R| = r^(1/c), direction (a, b) / r
            real, imag = real + a * expand, imag + b * expand
        return torch.complex(real, imag)

    def forward(self, x: Tensor, depth: int | None = None, alpha: float = 1.0, fade_blocks: int = 1) -> Tensor:
        length, hop, n_fft = x.shape[-1], self.cfg.hop, self.cfg.n_fft
        padded = valid_length(length, hop)
        h = nn.functional.pad(x.reshape(-1, length).float(), (0, padded - length))
        y = torch.istft(self.spectrum(self.stft(h), depth, alpha, fade_blocks), n_fft, hop, window=self.window,
                        center=True, length=padded)
        return y[:, :length].reshape(*x.shape[:-1], length).to(x.dtype)
