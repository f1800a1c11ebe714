"""DCGAN generator and critic for 32x32 images (Radford et al. 2016), 1 or 3 channels.

The DCGAN rules: no fully connected hidden layers (the generator's first layer is a transposed
convolution from a 1x1 map, the critic's last a 4x4 convolution to a 1x1 score), transposed convolutions
that double the side in the generator and strided convolutions that halve it in the critic, batch norm
everywhere except the generator's output and the critic's input, ReLU and a Tanh output in the generator,
LeakyReLU(0.2) in the critic. The critic's normalisation is chosen by name through the core's ``conv``
factory, so the same critic can carry batch norm (DCGAN), none (WGAN-GP) or spectral norm (SN-GAN)::

    generator  z (B, z_dim, 1, 1) -> 4w x 4x4 -> 2w x 8x8 -> w x 16x16 -> C x 32x32 (Tanh)
    critic     C*pack x 32x32 -> w x 16x16 -> 2w x 8x8 -> 4w x 4x4 -> score 1x1
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils import parametrize

from ..gan import MinibatchDiscrimination, MinibatchStdDev, conv, linear, pack
from .data import SIZE

CRITIC_NORMS = ("batch", "none", "spectral", "weight")


@dataclass
class ImageModelConfig:
    __pydantic_config__ = {"extra": "forbid"}

    z_dim: int = 64
    channels: int = 1  # image channels; training sets it from the data (digits 1, stacked 3)
    generator_width: int = 32  # channels of the generator's last hidden map (w); the first has 4w
    critic_width: int = 32  # channels of the critic's first map (w); the last has 4w
    # batch (DCGAN) | none | spectral | weight. No batch norm in a critic trained with a gradient penalty
    # (the penalty is per sample, batch norm mixes the samples) or with spectral norm (which bounds each
    # layer's Lipschitz constant; batch norm's division by the batch std undoes the bound).
    critic_norm: str = "batch"
    minibatch_kernels: int = 0  # > 0: minibatch discrimination on the last 4x4 map, then a linear head
    minibatch_kernel_dim: int = 5
    minibatch_std_group: int = 0  # > 0: a minibatch-std channel (ProGAN) on the last 4x4 map, groups of this
    pack: int = 1  # PacGAN: the critic scores packs of this many samples, stacked along the channels

    def __post_init__(self) -> None:
        if self.critic_norm not in CRITIC_NORMS:
            raise ValueError(f"critic_norm must be one of {', '.join(CRITIC_NORMS)}, got {self.critic_norm!r}")
        for key in ("z_dim", "channels", "generator_width", "critic_width", "minibatch_kernel_dim", "pack"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key} must be >= 1, got {getattr(self, key)!r}")
        for key in ("minibatch_kernels", "minibatch_std_group"):
            if getattr(self, key) < 0:
                raise ValueError(f"{key} must be >= 0, got {getattr(self, key)!r}")


def _init_dcgan(module: nn.Module) -> None:
    """DCGAN initialisation: conv weights N(0, 0.02), batch-norm scales N(1, 0.02) and shifts 0.

    Layers under spectral or weight norm keep PyTorch's default initialisation (as in SN-GAN): their
    weight is a computed tensor whose scale the normalisation sets.
    """
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)) and not parametrize.is_parametrized(m, "weight"):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


class DCGANGenerator(nn.Module):
    """``z (B, z_dim) -> x (B, channels, 32, 32)`` in [-1, 1]."""

    def __init__(self, cfg: ImageModelConfig):
        super().__init__()
        w = cfg.generator_width
        widths = [cfg.z_dim, 4 * w, 2 * w, w]
        layers: list[nn.Module] = []
        for i, (cin, cout) in enumerate(zip(widths[:-1], widths[1:])):
            # first: 1x1 -> 4x4 (kernel 4, stride 1, no padding); then each doubles the side
            stride, padding = (1, 0) if i == 0 else (2, 1)
            layers += [conv(2, cin, cout, 4, stride, padding, bias=False, norm="batch", transposed=True), nn.ReLU()]
        layers += [conv(2, w, cfg.channels, 4, 2, 1, transposed=True), nn.Tanh()]  # no batch norm at the output
        self.net = nn.Sequential(*layers)
        self.z_dim = cfg.z_dim
        _init_dcgan(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.view(z.shape[0], self.z_dim, 1, 1))


class DCGANCritic(nn.Module):
    """``x (B, channels, 32, 32) -> (score (B / pack,), [hidden maps])``; no sigmoid (losses apply it)."""

    def __init__(self, cfg: ImageModelConfig):
        super().__init__()
        w, norm = cfg.critic_width, cfg.critic_norm
        self.pack = cfg.pack
        edge = "none" if norm == "batch" else norm  # batch norm never on the input layer nor on the score
        widths = [cfg.channels * cfg.pack, w, 2 * w, 4 * w]
        self.hidden = nn.ModuleList()
        for i, (cin, cout) in enumerate(zip(widths[:-1], widths[1:])):
            self.hidden.append(nn.Sequential(conv(2, cin, cout, 4, 2, 1, bias=norm != "batch",
                                                  norm=edge if i == 0 else norm), nn.LeakyReLU(0.2)))
        width, side = 4 * w, SIZE // 8
        self.minibatch_std = None
        if cfg.minibatch_std_group > 0:
            self.minibatch_std = MinibatchStdDev(cfg.minibatch_std_group)
            width += 1
        self.minibatch = None
        if cfg.minibatch_kernels > 0:
            # Minibatch discrimination reads flat features, so the score comes from a linear layer over the
            # 4x4 map (the same map and parameter count as the 4x4 convolution it replaces) and the kernels.
            self.minibatch = MinibatchDiscrimination(width * side * side, cfg.minibatch_kernels,
                                                     cfg.minibatch_kernel_dim)
            self.head = linear(width * side * side + cfg.minibatch_kernels, 1, norm=edge)
        else:
            self.head = conv(2, width, 1, side, 1, 0, norm=edge)
        _init_dcgan(self)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        b, c, h, w = x.shape
        x = pack(x, self.pack).view(b // self.pack, self.pack * c, h, w)  # pack k: samples k*m .. k*m+m-1
        features = []
        for layer in self.hidden:
            x = layer(x)
            features.append(x)
        if self.minibatch_std is not None:
            x = self.minibatch_std(x)
        if self.minibatch is not None:
            x = self.minibatch(x)
        return self.head(x).flatten(1).squeeze(1), features
