"""The very deep 1-D convolutional waveform generator.

Shape of the network (``strides = (4, 4)``, hop 16)::

    x (B, 1, T) ──pad to a multiple of hop──┐
      encoder: conv k=2s stride s (x2)      │   T -> T/4 -> T/16 frames, channels 1 -> C/2 -> C
      body:    growing residual stack       │   N blocks: LeakyReLU, dilated conv k, LeakyReLU, conv 1x1
      decoder: upsample s, conv k=2s-1 (x2) │   T/16 -> T/4 -> T, channels C -> C/2 -> 1
    y = x + decoder(...) ───────crop to T───┘   (the network learns a correction; it starts near identity)

At full depth it has ``2 * blocks + 2 * len(strides)`` conv layers (36 for the defaults). The body is
built at full depth and takes ``depth``/``alpha`` at call time (incremental growth against the deep
plateau; names never change). Running the body at 1/16 of the sample rate is what makes it fast:
about 1 GFLOP per second of 16 kHz audio at the defaults.

The decoder upsamples by linear interpolation and then convolves (``upsample: linear``, the default)
rather than with a transposed conv (``upsample: transposed``, kept for models trained with it). A
transposed conv of stride s gives each of the s output phases its own weights, so any constant part of
its input (a bias, a slowly varying feature) comes out as a pattern of period s: tones at every
multiple of ``rate / hop``. The first shipped model's correction carried such a comb at 1, 2, ...,
8 kHz, within 2 dB of the speech level at 4 kHz, and PESQ punished it on every family. Interpolation
maps a constant to a constant (Odena et al. 2016, "Deconvolution and checkerboard artifacts").
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn.utils import parametrize

from ..gan import GrowingResidualStack, conv

Tensor = torch.Tensor


@dataclass
class GeneratorConfig:
    __pydantic_config__ = {"extra": "forbid"}

    channels: int = 64  # body width C
    strides: list[int] = field(default_factory=lambda: [4, 4])  # encoder downsampling per stage
    blocks: int = 16  # residual blocks in the body, 2 conv layers each
    kernel_size: int = 3  # body conv kernel (odd)
    dilation_cycle: int = 4  # dilations 1, 2, .., 2^(cycle-1), repeated
    norm: str = "none"  # none | weight (conv normalisation in the generator)
    upsample: str = "linear"  # linear (interpolate, then conv k=2s-1) | transposed (conv k=2s, stride s)
    # U-Net skips: each decoder stage also receives the encoder's output at its resolution (added).
    skips: bool = False
    # conv: learned strided encoder/decoder around the body (WaveGenerator). stft: the body runs on STFT
    # frames and outputs a bounded gain per time-frequency bin of the input (SpectralGainGenerator).
    frontend: str = "conv"
    n_fft: int = 512  # stft frontend: window (hop n_fft / 4)
    max_gain: float = 2.0  # stft frontend: gains lie in (0, max_gain); 1 (identity) at the start

    def __post_init__(self) -> None:
        if self.upsample not in ("linear", "transposed"):
            raise ValueError("generator.upsample must be linear or transposed")
        if self.kernel_size % 2 == 0:
            raise ValueError("generator.kernel_size must be odd")
        if any(s < 2 or s % 2 for s in self.strides):
            raise ValueError("generator.strides must be even numbers >= 2")
        if self.norm not in ("none", "weight"):
            raise ValueError("generator.norm must be none or weight")
        if self.frontend not in ("conv", "stft"):
            raise ValueError("generator.frontend must be conv or stft")
        if self.n_fft < 16 or self.n_fft % 4 or self.max_gain <= 1:
            raise ValueError("generator.n_fft must be a multiple of 4 (>= 16) and max_gain > 1")

    @property
    def hop(self) -> int:
        return self.n_fft // 4 if self.frontend == "stft" else math.prod(self.strides)

    @property
    def conv_layers(self) -> int:
        return 2 * self.blocks + (2 if self.frontend == "stft" else 2 * len(self.strides))


def valid_length(length: int, hop: int) -> int:
    """Smallest length >= ``length`` that the encoder/decoder map back to itself: a multiple of hop.

    ::

        T = 1000, hop = 16  ->  1008 = 63 * 16   (8 zeros appended, cropped again at the output)
    """
    return max(1, math.ceil(length / hop)) * hop


def dilation(block: int, cycle: int) -> int:
    return 2 ** (block % cycle)


def receptive_field(cfg: GeneratorConfig, depth: int | None = None) -> int:
    """Input samples that can influence one output sample (the correction branch), at ``depth``.

    Each conv of kernel k at input spacing j (samples between its input frames) widens the field by
    ``(k - 1) * j``; an encoder stage multiplies the spacing by its stride, a decoder stage (kernel 2s,
    stride s) reads 2 input frames and divides it again; a linear-upsampling stage reads 2 input
    frames too, then its conv (kernel 2s - 1) widens the field at the finer spacing.
    """
    depth = cfg.blocks if depth is None else depth
    if cfg.frontend == "stft":
        # Frames of the body's field, each n_fft wide, and the synthesis window's overlap of n_fft.
        frames = 1 + sum((cfg.kernel_size - 1) * dilation(b, cfg.dilation_cycle) for b in range(depth))
        return (frames - 1) * cfg.hop + 2 * cfg.n_fft
    rf, jump = 1, 1
    for s in cfg.strides:
        rf += (2 * s - 1) * jump
        jump *= s
    for b in range(depth):
        rf += (cfg.kernel_size - 1) * dilation(b, cfg.dilation_cycle) * jump
    for s in reversed(cfg.strides):
        rf += jump  # two input frames per output sample
        jump //= s
        if cfg.upsample == "linear":
            rf += (2 * s - 2) * jump
    return rf


class _Block(nn.Sequential):
    def __init__(self, channels: int, kernel: int, dil: int, norm: str):
        super().__init__(
            nn.LeakyReLU(0.2),
            conv(1, channels, channels, kernel, dilation=dil, padding=dil * (kernel - 1) // 2, norm=norm),
            nn.LeakyReLU(0.2),
            conv(1, channels, channels, 1, norm=norm),
        )


@torch.no_grad()
def _scale_weight_(layer: nn.Module, factor: float) -> None:
    """Scale a conv's effective weight; under weight norm that is its magnitude ``original0``."""
    if parametrize.is_parametrized(layer, "weight"):
        layer.parametrizations.weight.original0.mul_(factor)
    else:
        layer.weight.mul_(factor)


def _up_stage(c_in: int, c_out: int, s: int, cfg: GeneratorConfig) -> nn.Module:
    if cfg.upsample == "transposed":
        return conv(1, c_in, c_out, 2 * s, stride=s, padding=s // 2, transposed=True, norm=cfg.norm)
    return nn.Sequential(nn.Upsample(scale_factor=s, mode="linear", align_corners=False),
                         conv(1, c_in, c_out, 2 * s - 1, padding=s - 1, norm=cfg.norm))


class WaveGenerator(nn.Module):
    """``(B, 1, T) -> (B, 1, T)`` for any ``T``; see the module docstring."""

    def __init__(self, cfg: GeneratorConfig):
        super().__init__()
        self.cfg = cfg
        widths = [1] + [max(cfg.channels // 2 ** (len(cfg.strides) - 1 - i), 8) for i in range(len(cfg.strides))]
        self.encoder = nn.ModuleList(
            conv(1, widths[i], widths[i + 1], 2 * s, stride=s, padding=s // 2, norm=cfg.norm)
            for i, s in enumerate(cfg.strides))
        body_in = widths[-1]
        self.to_body = conv(1, body_in, cfg.channels, 1) if body_in != cfg.channels else nn.Identity()
        self.body = GrowingResidualStack(
            [_Block(cfg.channels, cfg.kernel_size, dilation(b, cfg.dilation_cycle), cfg.norm) for b in range(cfg.blocks)])
        up = list(reversed(widths))
        up[0] = cfg.channels
        self.decoder = nn.ModuleList(_up_stage(up[i], up[i + 1], s, cfg) for i, s in enumerate(reversed(cfg.strides)))
        self.act = nn.LeakyReLU(0.2)
        # Start close to the identity (a tiny correction) and keep the residual sum's variance flat.
        last = self.decoder[-1][-1] if isinstance(self.decoder[-1], nn.Sequential) else self.decoder[-1]
        _scale_weight_(last, 0.01)
        nn.init.zeros_(last.bias)
        for block in self.body.blocks:
            _scale_weight_(block[3], 1.0 / math.sqrt(cfg.blocks))

    def forward(self, x: Tensor, depth: int | None = None, alpha: float = 1.0, fade_blocks: int = 1) -> Tensor:
        length = x.shape[-1]
        h = nn.functional.pad(x, (0, valid_length(length, self.cfg.hop) - length))
        skip = h
        encoded = []
        for layer in self.encoder:
            h = self.act(layer(h))
            encoded.append(h)
        h = self.body(self.to_body(h), depth, alpha, fade_blocks)
        for i, layer in enumerate(self.decoder):
            if i and self.cfg.skips:
                h = h + encoded[-1 - i]
            h = layer(self.act(h) if i else h)
        return (skip + h)[..., :length]


def make_generator(cfg: GeneratorConfig) -> nn.Module:
    """The generator that ``cfg.frontend`` names; both map ``(B, 1, T) -> (B, 1, T)`` for any ``T``."""
    if cfg.frontend == "stft":
        from .spectral_generator import SpectralGainGenerator

        return SpectralGainGenerator(cfg)
    return WaveGenerator(cfg)
