"""Unrolled GAN (Metz et al. 2017): the generator trains against the critic advanced ``k`` steps.

The generator's loss is ``L_G(theta_D^k)``, where ``theta_D^{i+1} = theta_D^i - lr * grad L_D(theta_D^i)``
is a simulated SGD step of the critic on the current real batch and the current fakes. With
``second_order=True`` the gradient flows through the unrolled steps (``create_graph``), so the
generator sees how the critic would *react* to its move: the term that discourages mode hopping.
``second_order=False`` is the cheap first-order approximation: the unrolled critic is treated as
constant, and only the final loss is differentiated.

The real critic's parameters are not changed; the unroll is done on copies through
``torch.func.functional_call``.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn
from torch.func import functional_call

from .constraints import critic_score

Tensor = torch.Tensor


def unrolled_critic_params(
    critic: nn.Module,
    real: Tensor,
    fake: Tensor,
    critic_loss: Callable[[Tensor, Tensor], Tensor],
    steps: int,
    lr: float,
    second_order: bool = True,
) -> dict[str, Tensor]:
    """The critic's parameters after ``steps`` simulated SGD steps on ``(real, fake)``.

    With ``second_order`` the returned tensors depend differentiably on ``fake``; otherwise they are
    detached. Buffers (running statistics, power-iteration vectors) are copied, never written.
    """
    params = {name: p for name, p in critic.named_parameters()}
    # Cloned: a training-mode forward may update buffers in place (spectral norm's power iteration).
    buffers = {name: b.clone() for name, b in critic.named_buffers()}
    fake_in = fake if second_order else fake.detach()
    for _ in range(steps):
        state = {**buffers, **params}
        real_s = critic_score(functional_call(critic, state, (real,)))
        fake_s = critic_score(functional_call(critic, state, (fake_in,)))
        loss = critic_loss(real_s, fake_s)
        names = list(params)
        grads = torch.autograd.grad(loss, [params[n] for n in names], create_graph=second_order)
        params = {n: params[n] - lr * g for n, g in zip(names, grads)}
        if not second_order:
            params = {n: p.detach().requires_grad_(True) for n, p in params.items()}
    return params


def unrolled_generator_loss(
    critic: nn.Module,
    real: Tensor,
    fake: Tensor,
    critic_loss: Callable[[Tensor, Tensor], Tensor],
    generator_loss: Callable[[Tensor], Tensor],
    steps: int = 5,
    lr: float = 1e-4,
    second_order: bool = True,
) -> Tensor:
    """Generator loss against the critic unrolled ``steps`` times (Metz et al. 2017; k = 5 there).

    Args:
        critic: returns ``score`` or ``(score, features)``; left unchanged.
        real: ``(B, ...)`` real batch used in the unrolled critic steps.
        fake: ``(B', ...)`` generator outputs, attached to the generator's graph.
        critic_loss, generator_loss: a loss pair from :mod:`audiogan.gan.losses`.
        lr: step size of the simulated SGD critic steps.
    """
    buffers = {name: b.clone() for name, b in critic.named_buffers()}
    params = unrolled_critic_params(critic, real, fake, critic_loss, steps, lr, second_order)
    return generator_loss(critic_score(functional_call(critic, {**buffers, **params}, (fake,))))
