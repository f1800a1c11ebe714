"""Pieces shared by the generators: the body's residual block, frame-grid length arithmetic, init scaling."""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.utils import parametrize

from ...gan import conv

Tensor = torch.Tensor


def valid_length(length: int, hop: int) -> int:
    """Smallest length >= ``length`` that the generators map back to itself: a multiple of hop.

    ::

        T = 1000, hop = 16  ->  1008 = 63 * 16   (8 zeros appended, cropped again at the output)
    """
    return max(1, math.ceil(length / hop)) * hop


def dilation(block: int, cycle: int) -> int:
    """Dilation of body block ``block``: 1, 2, ..., 2^(cycle - 1), repeated."""
    return 2 ** (block % cycle)


def body_frames(blocks: int, kernel_size: int, cycle: int) -> int:
    """Frames of the body's receptive field: each dilated conv of kernel k adds ``(k - 1) * dilation``."""
    return 1 + sum((kernel_size - 1) * dilation(b, cycle) for b in range(blocks))


def check_body(channels: int, blocks: int, kernel_size: int, dilation_cycle: int, norm: str) -> None:
    """Raise ``ValueError`` (naming the ``generator.`` key) for a body no generator can build."""
    if channels < 1 or blocks < 1 or dilation_cycle < 1:
        raise ValueError("generator.channels, blocks and dilation_cycle must be >= 1")
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError("generator.kernel_size must be odd")
    if norm not in ("none", "weight"):
        raise ValueError("generator.norm must be none or weight")


def stft_receptive_field(frames: int, hop: int, n_fft: int) -> int:
    """Input samples that can influence one output sample of a body over STFT frames whose field is
    ``frames`` frames: the frames' span, each n_fft wide, plus the synthesis window's overlap of n_fft."""
    return (frames - 1) * hop + 2 * n_fft


class ResidualBlock(nn.Sequential):
    """LeakyReLU, dilated conv k, LeakyReLU, conv 1x1 (the residual branch of one body block)."""

    def __init__(self, channels: int, kernel: int, dil: int, norm: str):
        super().__init__(
            nn.LeakyReLU(0.2),
            conv(1, channels, channels, kernel, dilation=dil, padding=dil * (kernel - 1) // 2, norm=norm),
            nn.LeakyReLU(0.2),
            conv(1, channels, channels, 1, norm=norm),
        )


def residual_body(channels: int, blocks: int, kernel: int, cycle: int, norm: str) -> list[nn.Module]:
    """The body's blocks, the last conv of each scaled by ``1 / sqrt(blocks)`` so the residual sum's
    variance stays flat with depth."""
    body = [ResidualBlock(channels, kernel, dilation(b, cycle), norm) for b in range(blocks)]
    for block in body:
        scale_weight_(block[3], 1.0 / math.sqrt(blocks))
    return body


@torch.no_grad()
def scale_weight_(layer: nn.Module, factor: float) -> None:
    """Scale a conv's effective weight; under weight norm that is its magnitude ``original0``."""
    if parametrize.is_parametrized(layer, "weight"):
        layer.parametrizations.weight.original0.mul_(factor)
    else:
        layer.weight.mul_(factor)
