"""MLP generator and critic of the 2-D benchmark, sized as in PacGAN's mixture experiments
(Lin et al. 2018, appendix: generator 4 hidden layers of 400 units, critic 3 hidden layers of 200,
2-D Gaussian noise). Activations here: ReLU in the generator, LeakyReLU(0.2) in the critic."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..gan import MinibatchDiscrimination, linear, pack


@dataclass
class ToyModelConfig:
    __pydantic_config__ = {"extra": "forbid"}

    z_dim: int = 2
    generator_hidden: int = 400
    generator_layers: int = 4
    # PacGAN's generator uses batch norm; samples are drawn with batch statistics (see train.generate).
    generator_batchnorm: bool = True
    critic_hidden: int = 200
    critic_layers: int = 3
    critic_norm: str = "none"  # none | spectral | weight (no batch norm: it breaks the per-sample GP)
    minibatch_kernels: int = 0  # > 0 adds minibatch discrimination before the critic's last layer
    minibatch_kernel_dim: int = 5
    pack: int = 1  # PacGAN: the critic scores packs of this many samples (its input is 2 * pack wide)


class MLPGenerator(nn.Module):
    """``z (B, z_dim) -> x (B, 2)``."""

    def __init__(self, cfg: ToyModelConfig):
        super().__init__()
        layers: list[nn.Module] = []
        width = cfg.z_dim
        for _ in range(cfg.generator_layers):
            layers.append(nn.Linear(width, cfg.generator_hidden))
            if cfg.generator_batchnorm:
                layers.append(nn.BatchNorm1d(cfg.generator_hidden))
            layers.append(nn.ReLU())
            width = cfg.generator_hidden
        layers.append(nn.Linear(width, 2))
        self.net = nn.Sequential(*layers)
        if not cfg.generator_batchnorm:
            # PyTorch's default Linear init (variance 1 / (3 fan_in)) shrinks the signal about 2.5x per
            # ReLU layer: from 2-D noise the untrained generator's outputs then sit within ~0.02 of one
            # point and training drifts that collapsed blob around. He init (He et al. 2015) keeps unit
            # scale. With batch norm the scale is restored at every layer, so the default is kept there.
            # Biases: with all of them zero the network is positively homogeneous (G(a z) = a G(z) for
            # a > 0), so every ReLU kink lies on a ray through the origin and the map is linear on angular
            # sectors of the noise plane: splitting the noise radially into separate modes must wait
            # for the biases to grow. A unit-normal first-layer bias spreads the first layer's kinks over
            # the noise's support from the start (and with them every later layer's); the rest stay 0.
            linears = [layer for layer in self.net if isinstance(layer, nn.Linear)]
            for layer in linears:
                nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
                nn.init.zeros_(layer.bias)
            nn.init.normal_(linears[0].bias)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class MLPCritic(nn.Module):
    """``x (B, 2) -> (score (B / pack,), [hidden features])``; no sigmoid (losses apply it where needed)."""

    def __init__(self, cfg: ToyModelConfig):
        super().__init__()
        self.hidden = nn.ModuleList()
        self.pack = cfg.pack
        width = 2 * cfg.pack
        for _ in range(cfg.critic_layers):
            self.hidden.append(nn.Sequential(linear(width, cfg.critic_hidden, norm=cfg.critic_norm),
                                             nn.LeakyReLU(0.2)))
            width = cfg.critic_hidden
        self.minibatch = None
        if cfg.minibatch_kernels > 0:
            self.minibatch = MinibatchDiscrimination(width, cfg.minibatch_kernels, cfg.minibatch_kernel_dim)
            width += cfg.minibatch_kernels
        self.head = linear(width, 1, norm=cfg.critic_norm)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        features = []
        x = pack(x, self.pack)
        for layer in self.hidden:
            x = layer(x)
            features.append(x)
        if self.minibatch is not None:
            x = self.minibatch(x)
        return self.head(x).squeeze(1), features
