"""The very deep critics of the stability ablation, on the 2-D mixtures: a plain critic that can grow, and a
residual critic with or without spectral norm.

The 2-D benchmark's networks (``audiogan/toy/model.py``) are 4 layers deep; two failures need a deep critic:

- the *deep plateau* of a very deep critic: ``PlainCritic``, ``layers`` plain ``Linear + LeakyReLU(0.2)``
  layers of one width, no residual path, no normalisation, LeCun-normal weights (variance ``1 / fan_in``,
  without He's factor 2, so every layer about halves the power of what passes through it) and PyTorch's
  default biases (uniform in ``+-1 / sqrt(fan_in)``). The biases hold every layer's activations at their
  own scale while the input's share of them halves per layer: after 64 layers it is ``2^-32`` of the
  activations in amplitude, far under float32's resolution, so the score is flat in the input (no real-fake
  gap, no gradient for the generator) and the first layers' gradient is a vanishing fraction of the last
  ones'. Built at full depth; ``depth``/``alpha`` at call time run the first ``depth`` layers, the newest
  fading in from the identity (ProGAN's blend), so a growth schedule trains them incrementally with
  parameter names that never change;
- *weight and score divergence*: ``DeepCritic``, ``blocks`` residual ``LeakyReLU + Linear`` branches
  scaled by ``1 / sqrt(blocks)`` (a unit-scale start at any depth), He-initialised, normalised by name
  (``none`` or ``spectral``).

The generator is the 2-D benchmark's MLP. :func:`train_deep` trains a :class:`DeepRecipe` exactly as
``audiogan toy train`` trains a recipe and writes the same files (samples, metrics with the diagnostics'
events, plot, config, log, diagnostics).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .checkpoint import atomic_write_text
from .config import dump_yaml, load_config
from .errors import ConfigError
from .gan import AdversarialTrainer, GrowthSchedule, linear, make_optimizer, make_scheduler
from .toy.mixtures import get_mixture
from .toy.model import MLPCritic, MLPGenerator
from .toy.train import ToyRecipe, run_toy

Tensor = torch.Tensor


@dataclass
class DeepModelConfig:
    __pydantic_config__ = {"extra": "forbid"}

    critic_blocks: int = 0  # > 0: a residual critic of this many blocks replaces the toy MLP critic
    critic_layers: int = 0  # > 0: a plain critic of this many hidden layers replaces the toy MLP critic
    critic_width: int = 64
    critic_norm: str = "none"  # none | spectral (the residual critic's)

    def __post_init__(self) -> None:
        if min(self.critic_blocks, self.critic_layers) < 0 or self.critic_width < 1:
            raise ValueError("critic_blocks and critic_layers must be >= 0, critic_width >= 1")
        if self.critic_blocks and self.critic_layers:
            raise ValueError("critic_blocks (residual) and critic_layers (plain) exclude each other")
        if self.critic_norm not in ("none", "spectral"):
            raise ValueError(f"critic_norm must be none or spectral, got {self.critic_norm!r}")


class DeepRecipe(ToyRecipe):
    """A 2-D recipe whose critic is one of the deep networks here."""

    deep: DeepModelConfig = field(default_factory=DeepModelConfig)
    critic_growth: GrowthSchedule | None = None  # in layers of the plain critic


class PlainCritic(nn.Module):
    """``x (B, 2) -> (score (B,), [last hidden output (B, width)])`` through ``inp``, ``layers`` plain hidden
    ``Linear + LeakyReLU(0.2)`` layers and ``head`` (initialised as the module docstring says)."""

    def __init__(self, width: int, layers: int):
        super().__init__()
        self.inp = nn.Sequential(nn.Linear(2, width), nn.LeakyReLU(0.2))
        self.layers = nn.ModuleList([nn.Sequential(nn.Linear(width, width), nn.LeakyReLU(0.2))
                                     for _ in range(layers)])
        self.head = nn.Linear(width, 1)
        for layer in self.modules():
            if isinstance(layer, nn.Linear):  # the bias keeps nn.Linear's default
                nn.init.normal_(layer.weight, std=layer.in_features ** -0.5)

    def forward(self, x: Tensor, depth: int | None = None, alpha: float = 1.0,
                fade_blocks: int = 1) -> tuple[Tensor, list[Tensor]]:
        h = self.inp(x)
        depth = len(self.layers) if depth is None else depth
        for i in range(depth):
            new = self.layers[i](h)
            fading = i >= depth - fade_blocks and alpha < 1.0
            h = h + alpha * (new - h) if fading else new  # a fading layer blends from the identity
        return self.head(h).squeeze(1), [h]


class DeepCritic(nn.Module):
    """``x (B, 2) -> (score (B,), [block outputs])``: ``h = stem(x)``, ``h += branch_l(h) / sqrt(blocks)``."""

    def __init__(self, width: int, blocks: int, norm: str):
        super().__init__()
        self.scale = 1.0 / math.sqrt(blocks)
        self.stem = linear(2, width, norm=norm)
        self.blocks = nn.ModuleList([nn.Sequential(nn.LeakyReLU(0.2), linear(width, width, norm=norm))
                                     for _ in range(blocks)])
        self.head = nn.Sequential(nn.LeakyReLU(0.2), linear(width, 1, norm=norm))
        for layer in self.modules():  # He init for LeakyReLU; under spectral norm the stored weight
            if isinstance(layer, nn.Linear):  # (``original``) is what gets initialised
                nn.init.kaiming_normal_(layer.weight, a=0.2, nonlinearity="leaky_relu")
                nn.init.zeros_(layer.bias)

    def forward(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        h, features = self.stem(x), []
        for block in self.blocks:
            h = h + self.scale * block(h)
            features.append(h)
        return self.head(h).squeeze(1), features


def build(recipe: DeepRecipe) -> AdversarialTrainer:
    deep, model = recipe.deep, recipe.model
    generator = MLPGenerator(model)
    if deep.critic_layers:
        critic: nn.Module = PlainCritic(deep.critic_width, deep.critic_layers)
    elif deep.critic_blocks:
        critic = DeepCritic(deep.critic_width, deep.critic_blocks, deep.critic_norm)
    else:
        critic = MLPCritic(model)
    g_opt = make_optimizer(generator.parameters(), recipe.generator_opt)
    c_opt = make_optimizer(critic.parameters(), recipe.critic_opt)
    schedulers = {"generator": make_scheduler(g_opt, recipe.generator_opt),
                  "critic": make_scheduler(c_opt, recipe.critic_opt)}
    return AdversarialTrainer(generator, critic, g_opt, c_opt, recipe.adversarial, schedulers=schedulers,
                              critic_growth=recipe.critic_growth)


def train_deep(data: str, recipe_path: str | Path, seed: int, out: Path) -> dict:
    """Train the :class:`DeepRecipe` at ``recipe_path`` on ``data`` with ``seed``; write what ``audiogan toy
    train`` writes into ``out``; return the metrics."""
    mixture = get_mixture(data)
    recipe = load_config(recipe_path, DeepRecipe)
    growth = recipe.critic_growth
    if growth is not None and (growth.max_depth != recipe.deep.critic_layers or growth.total_steps > recipe.iterations):
        raise ConfigError(f"{recipe_path}: critic_growth must end at deep.critic_layers within the iterations")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "config.yaml", dump_yaml(recipe))
    torch.manual_seed(seed)
    np.random.seed(seed)
    return run_toy(build(recipe), recipe, mixture, data, recipe_path, seed, out)
