"""The very deep 1-D convolutional waveform generator.

Shape of the network (``strides = (4, 4)``, hop 16)::

    x (B, 1, T) ──pad to a multiple of hop──┐
      encoder: conv k=2s stride s (x2)      │   T -> T/4 -> T/16 frames, channels 1 -> C/2 -> C
      body:    growing residual stack       │   N blocks: LeakyReLU, dilated conv k, LeakyReLU, conv 1x1
      decoder: upsample s, conv k=2s-1 (x2) │   T/16 -> T/4 -> T, channels C -> C/2 -> 1
    y = x + decoder(...) ───────crop to T───┘   (the network learns a correction; it starts near identity)

At full depth it has ``2 * blocks + 2 * len(strides)`` conv layers (36 for 16 blocks and two stages). The body is
built at full depth and takes ``depth``/``alpha`` at call time (incremental growth against the deep
plateau; names never change). Running the body at 1/16 of the sample rate is what makes it fast:
about 1 GFLOP per second of 16 kHz audio at the defaults.

The decoder upsamples by linear interpolation and then convolves, not with a transposed conv. A
transposed conv of stride s gives each of the s output phases its own weights, so any constant part of
its input (a bias, a slowly varying feature) comes out as a pattern of period s: tones at every
multiple of ``rate / hop``. The first shipped model's correction carried such a comb at 1, 2, ...,
8 kHz, within 2 dB of the speech level at 4 kHz, and PESQ punished it on every family. Interpolation
maps a constant to a constant (Odena et al. 2016, "Deconvolution and checkerboard artifacts").
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import nn

from ...gan import GrowingResidualStack, conv
from .blocks import body_frames, check_body, residual_body, scale_weight_, valid_length

Tensor = torch.Tensor


@dataclass
class WaveGeneratorConfig:
    """The waveform-domain generator: a learned strided encoder and decoder around the body."""

    __pydantic_config__ = {"extra": "forbid"}

    kind: Literal["waveform"] = "waveform"
    channels: int = 64  # body width C
    strides: list[int] = field(default_factory=lambda: [4, 4])  # encoder downsampling per stage
    blocks: int = 16  # residual blocks in the body, 2 conv layers each
    kernel_size: int = 3  # body conv kernel (odd)
    dilation_cycle: int = 4  # dilations 1, 2, .., 2^(cycle-1), repeated
    norm: str = "none"  # none | weight (conv normalisation in the generator)
    skips: bool = False  # U-Net skips: each decoder stage also receives the encoder's output at its rate

    def __post_init__(self) -> None:
        check_body(self.channels, self.blocks, self.kernel_size, self.dilation_cycle, self.norm)
        if not self.strides or any(s < 2 or s % 2 for s in self.strides):
            raise ValueError("generator.strides must be even numbers >= 2")

    @property
    def hop(self) -> int:
        return math.prod(self.strides)

    @property
    def conv_layers(self) -> int:
        return 2 * self.blocks + 2 * len(self.strides)

    def receptive_field(self, depth: int | None = None) -> int:
        """Input samples that can influence one output sample (the correction branch), at ``depth``.

        Each conv of kernel k at input spacing j (samples between its input frames) widens the field by
        ``(k - 1) * j``; an encoder stage multiplies the spacing by its stride; a decoder stage reads 2
        input frames (linear interpolation), then its conv (kernel 2s - 1) widens the field at the finer
        spacing.
        """
        rf, jump = 1, 1
        for s in self.strides:
            rf += (2 * s - 1) * jump
            jump *= s
        rf += (body_frames(self.blocks if depth is None else depth, self.kernel_size, self.dilation_cycle) - 1) * jump
        for s in reversed(self.strides):
            rf += jump  # two input frames per output sample
            jump //= s
            rf += (2 * s - 2) * jump
        return rf


def _up_stage(c_in: int, c_out: int, s: int, norm: str) -> nn.Module:
    return nn.Sequential(nn.Upsample(scale_factor=s, mode="linear", align_corners=False),
                         conv(1, c_in, c_out, 2 * s - 1, padding=s - 1, norm=norm))


class WaveGenerator(nn.Module):
    """``(B, 1, T) -> (B, 1, T)`` for any ``T``; see the module docstring."""

    def __init__(self, cfg: WaveGeneratorConfig):
        super().__init__()
        self.cfg = cfg
        widths = [1] + [max(cfg.channels // 2 ** (len(cfg.strides) - 1 - i), 8) for i in range(len(cfg.strides))]
        self.encoder = nn.ModuleList(
            conv(1, widths[i], widths[i + 1], 2 * s, stride=s, padding=s // 2, norm=cfg.norm)
            for i, s in enumerate(cfg.strides))
        body_in = widths[-1]
        self.to_body = conv(1, body_in, cfg.channels, 1) if body_in != cfg.channels else nn.Identity()
        self.body = GrowingResidualStack(
            residual_body(cfg.channels, cfg.blocks, cfg.kernel_size, cfg.dilation_cycle, cfg.norm))
        up = list(reversed(widths))
        up[0] = cfg.channels
        self.decoder = nn.ModuleList(_up_stage(up[i], up[i + 1], s, cfg.norm)
                                     for i, s in enumerate(reversed(cfg.strides)))
        self.act = nn.LeakyReLU(0.2)
        # Start close to the identity: a tiny correction.
        last = self.decoder[-1][-1]
        scale_weight_(last, 0.01)
        nn.init.zeros_(last.bias)

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
