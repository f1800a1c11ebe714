"""Layers shared by every model: normalised conv/linear factory, minibatch discrimination,
minibatch standard deviation, fade-in blending and a residual stack that grows in depth."""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn
from torch.nn.utils import parametrizations

Tensor = torch.Tensor

NORMS = ("none", "batch", "weight", "spectral")

_CONVS: dict[tuple[int, bool], type[nn.Module]] = {
    (1, False): nn.Conv1d,
    (2, False): nn.Conv2d,
    (1, True): nn.ConvTranspose1d,
    (2, True): nn.ConvTranspose2d,
}
_BATCH_NORMS: dict[int, type[nn.Module]] = {0: nn.BatchNorm1d, 1: nn.BatchNorm1d, 2: nn.BatchNorm2d}


def _check_norm(norm: str) -> None:
    if norm not in NORMS:
        raise ValueError(f"unknown norm {norm!r}; valid: {', '.join(NORMS)}")


def _normed(layer: nn.Module, norm: str, dim: int, out_channels: int) -> nn.Module:
    """Wrap ``layer`` with the normalisation called ``norm`` (the one place norms are chosen)."""
    _check_norm(norm)
    if norm == "weight":
        return parametrizations.weight_norm(layer)
    if norm == "spectral":
        return parametrizations.spectral_norm(layer)
    if norm == "batch":
        # No batch norm in a critic trained with a gradient penalty: the penalty is per sample.
        return nn.Sequential(layer, _BATCH_NORMS[dim](out_channels))
    return layer


def conv(
    dim: int,
    in_channels: int,
    out_channels: int,
    kernel_size: int,
    stride: int = 1,
    padding: int = 0,
    dilation: int = 1,
    groups: int = 1,
    bias: bool = True,
    norm: str = "none",
    transposed: bool = False,
) -> nn.Module:
    """A 1-D or 2-D (transposed) convolution with normalisation chosen by name.

    Args:
        dim: 1 for ``(B, C, T)`` inputs, 2 for ``(B, C, H, W)``.
        norm: ``none | batch | weight | spectral``; weight and spectral norm use
            ``torch.nn.utils.parametrizations``, batch norm follows the conv.
    """
    if (dim, transposed) not in _CONVS:
        raise ValueError(f"conv dim must be 1 or 2, got {dim}")
    cls = _CONVS[(dim, transposed)]
    extra = {} if transposed else {"dilation": dilation}
    layer = cls(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
                groups=groups, bias=bias, **extra)
    return _normed(layer, norm, dim, out_channels)


def linear(in_features: int, out_features: int, bias: bool = True, norm: str = "none") -> nn.Module:
    """A linear layer with normalisation chosen by name (see :func:`conv`)."""
    return _normed(nn.Linear(in_features, out_features, bias=bias), norm, 0, out_features)


class MinibatchDiscrimination(nn.Module):
    """Minibatch discrimination (Salimans et al. 2016, section 3.2).

    Each sample's features ``f (A,)`` are projected by a learnable tensor ``T (A, n_kernels, kernel_dim)``
    to ``M (n_kernels, kernel_dim)``; for each kernel ``b``, ``o_b(x_i) = sum_{j != i} exp(-||M_ib - M_jb||_1)``
    measures how close sample ``i`` is to the rest of its batch. The output is ``[f, o]``: a batch of
    near-identical samples (mode collapse) gets large ``o`` that the critic can learn to reject.

    Input ``(B, ...)`` is flattened to ``(B, A)``; output is ``(B, A + n_kernels)``.
    """

    def __init__(self, in_features: int, n_kernels: int = 16, kernel_dim: int = 8):
        super().__init__()
        self.n_kernels, self.kernel_dim = n_kernels, kernel_dim
        self.T = nn.Parameter(torch.randn(in_features, n_kernels * kernel_dim) * 0.1)

    def forward(self, x: Tensor) -> Tensor:
        f = x.flatten(1)
        m = (f @ self.T).view(-1, self.n_kernels, self.kernel_dim)  # (B, K, D)
        l1 = (m.unsqueeze(0) - m.unsqueeze(1)).abs().sum(dim=3)  # (B, B, K)
        o = torch.exp(-l1).sum(dim=1) - 1.0  # drop the self term exp(0) = 1
        return torch.cat([f, o], dim=1)


class MinibatchStdDev(nn.Module):
    """Minibatch standard deviation (Karras et al. 2018, ProGAN section 3).

    Splits the batch into groups of ``group_size``, takes the standard deviation of every feature over
    each group, averages it to one number per group and appends it as one extra channel (feature) to
    every sample of the group. Works for ``(B, F)``, ``(B, C, T)`` and ``(B, C, H, W)``; output has one
    more channel. ``B`` must be divisible by the group size (it is reduced to ``B`` when larger).
    """

    def __init__(self, group_size: int = 4, eps: float = 1e-8):
        super().__init__()
        self.group_size, self.eps = group_size, eps

    def forward(self, x: Tensor) -> Tensor:
        b = x.shape[0]
        g = min(self.group_size, b)
        if b % g:
            raise ValueError(f"batch {b} is not divisible by minibatch-std group size {g}")
        grouped = x.reshape(g, b // g, *x.shape[1:])
        # the population variance written out: Tensor.var over the leading (outermost) dim runs about 40
        # times slower on CPU (2 ms against 0.05 for a 32 x 128 x 4 x 4 map, 6 % of an image GAN iteration)
        var = (grouped - grouped.mean(dim=0)).square().mean(dim=0)
        std = (var + self.eps).sqrt()  # (B/g, C, ...)
        stat = std.flatten(1).mean(dim=1)  # (B/g,)
        stat = stat.repeat(g)  # sample i sits in group i % (B/g)
        stat = stat.view(b, 1, *([1] * (x.dim() - 2))).expand(b, 1, *x.shape[2:])
        return torch.cat([x, stat.to(x.dtype)], dim=1)


def pack(x: Tensor, m: int) -> Tensor:
    """PacGAN packing (Lin et al. 2018): ``(B, *shape) -> (B / m, m * prod(shape))``.

    The critic judges ``m`` samples of the same kind at once, so a generator that drops modes shows as
    packs with too little variety. Samples ``k*m .. k*m + m - 1`` form pack ``k``; ``m = 1`` only
    flattens. ``B`` must be a multiple of ``m``.
    """
    if m < 1 or x.shape[0] % m:
        raise ValueError(f"batch of {x.shape[0]} does not split into packs of {m}")
    return x.reshape(x.shape[0] // m, -1)


def fade_in(old: Tensor, new: Tensor, alpha: float) -> Tensor:
    """Blend while a new layer grows in (Karras et al. 2018): ``(1 - alpha) * old + alpha * new``."""
    return torch.lerp(old, new, alpha) if isinstance(alpha, Tensor) else old + alpha * (new - old)


class GrowingResidualStack(nn.Module):
    """Residual blocks built at full depth; ``depth`` and ``alpha`` choose how many run, at call time.

    ``x_{l+1} = x_l + s_l * block_l(x_l)`` for ``l < depth``, where ``s_l = alpha`` for the blocks that
    are fading in (the last ``fade_blocks`` active ones) and 1 otherwise. At ``alpha = 0`` a new block
    contributes nothing, so growing never jumps the output; parameter names never change, so a
    checkpoint loads at any depth. Blocks past ``depth`` are not run at all (no compute, no gradient).

    Args:
        blocks: the full-depth list of residual branches, each mapping ``x`` to a tensor of its shape.
    """

    def __init__(self, blocks: list[nn.Module] | nn.ModuleList):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)

    @property
    def max_depth(self) -> int:
        return len(self.blocks)

    def forward(self, x: Tensor, depth: int | None = None, alpha: float = 1.0,
                fade_blocks: int = 1, block_fn: Callable[[nn.Module, Tensor], Tensor] | None = None) -> Tensor:
        depth = self.max_depth if depth is None else depth
        if not 0 <= depth <= self.max_depth:
            raise ValueError(f"depth {depth} outside [0, {self.max_depth}]")
        first_fading = depth - fade_blocks
        for i in range(depth):
            branch = block_fn(self.blocks[i], x) if block_fn else self.blocks[i](x)
            x = x + branch * alpha if i >= first_fading and alpha < 1.0 else x + branch
        return x
