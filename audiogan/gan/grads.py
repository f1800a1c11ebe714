"""Gradient bookkeeping for the training step: freezing a module, gradient norms per layer group."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

import torch
from torch import nn

Tensor = torch.Tensor


@contextmanager
def frozen(module: nn.Module) -> Iterator[None]:
    """No gradients for ``module``'s parameters inside the block (saves the critic's weight grads)."""
    flags = [p.requires_grad for p in module.parameters()]
    module.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(module.parameters(), flags):
            p.requires_grad_(flag)


def grad_norm(params: list[nn.Parameter]) -> Tensor:
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return torch.zeros(())
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g.float()) for g in grads]))


def layer_group(name: str) -> str:
    """The layer group of a parameter name: its path up to and including the first list index.

    ``encoder.0.weight -> encoder.0``, ``body.blocks.3.1.weight -> body.blocks.3``,
    ``head.weight -> head``: every block of a deep stack is its own group.
    """
    parts = name.split(".")
    for i, part in enumerate(parts[:-1]):
        if part.isdigit():
            return ".".join(parts[: i + 1])
    return parts[0] if len(parts) > 1 else name


def grad_norms_by_group(module: nn.Module, prefix: str) -> dict[str, float]:
    """Gradient norm per layer group (:func:`layer_group`), keyed ``grad/{prefix}/{group}``.

    A block stuck at zero while the others learn is the sign of a plateau. Only parameters that have a
    gradient are counted (blocks not yet grown in have none).
    """
    groups: dict[str, list[Tensor]] = {}
    for name, p in module.named_parameters():
        if p.grad is not None:
            groups.setdefault(layer_group(name), []).append(p.grad)
    return {f"grad/{prefix}/{g}": float(torch.linalg.vector_norm(torch.stack(
        [torch.linalg.vector_norm(t.float()) for t in grads]))) for g, grads in groups.items()}


class BoundKwargs(nn.Module):
    """Wraps a module so that ``functional_call`` sees fixed keyword arguments (growth depth/alpha)."""

    def __init__(self, module: nn.Module, kwargs: dict[str, Any]):
        super().__init__()
        self.module, self.kwargs = module, kwargs

    def forward(self, x: Tensor):
        return self.module(x, **self.kwargs)
