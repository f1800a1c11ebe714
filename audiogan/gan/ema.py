"""Exponential moving average of a model's weights, and a context manager that swaps weights in."""

from __future__ import annotations

import copy
from contextlib import contextmanager
from typing import Iterator

import torch
from torch import nn


class EMA:
    """``ema <- decay * ema + (1 - decay) * weights`` after every update (Yazici et al. 2019 for GANs).

    The averaged copy lives in ``self.module`` (eval mode, no gradients). Buffers (batch-norm
    statistics, power-iteration vectors) are copied, not averaged. Consequence for batch norm: the
    copied running statistics belong to the live weights, not the averaged ones, so sample an EMA
    model that has batch norm with batch statistics (train mode, on a copy), as the 2-D benchmark
    does, or recompute the statistics for the averaged weights first.
    """

    def __init__(self, module: nn.Module, decay: float = 0.999, bias_correction: bool = False):
        if not 0.0 <= decay < 1.0:
            raise ValueError("EMA decay must be in [0, 1)")
        self.decay = decay
        self.bias_correction = bias_correction
        self.updates = 0
        self.module = copy.deepcopy(module).eval().requires_grad_(False)

    def current_decay(self) -> float:
        """The decay the next update uses.

        Without bias correction it is ``decay``, so after ``n`` updates the starting weights still carry
        ``decay ** n`` of the average (13.5 % after 2,000 updates at 0.999). With it, as in Adam's moment
        estimates, the average is normalised by ``1 - decay ** n``: update ``n`` uses
        ``decay * (1 - decay ** (n - 1)) / (1 - decay ** n)``, so the first update copies the weights and
        the result is exactly the weighted mean of the weights seen, with no share left to the start.
        """
        if not self.bias_correction:
            return self.decay
        n = self.updates + 1
        return self.decay * (1.0 - self.decay ** (n - 1)) / (1.0 - self.decay ** n)

    @torch.no_grad()
    def update(self, module: nn.Module, decay: float | None = None) -> None:
        d = self.current_decay() if decay is None else decay
        for e, p in zip(self.module.parameters(), module.parameters()):
            e.lerp_(p.detach(), 1.0 - d)
        for e, b in zip(self.module.buffers(), module.buffers()):
            e.copy_(b)
        self.updates += 1

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.module.state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.module.load_state_dict(state, strict=True)


@contextmanager
def swap_state(module: nn.Module, state: dict[str, torch.Tensor]) -> Iterator[nn.Module]:
    """Temporarily load ``state`` into ``module`` (e.g. EMA weights for evaluation), then restore it."""
    saved = {k: v.detach().clone() for k, v in module.state_dict().items()}
    module.load_state_dict(state, strict=True)
    try:
        yield module
    finally:
        module.load_state_dict(saved, strict=True)
