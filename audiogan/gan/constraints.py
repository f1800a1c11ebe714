"""Lipschitz and weight constraints for critics: clipping, gradient penalty, spectral norm, L2, drift.

All functions work on tensors and modules of any rank (points ``(B, 2)``, audio ``(B, C, T)``,
images ``(B, C, H, W)``). Penalties return the *unweighted* term; the trainer multiplies it by the
weight keyed by its logged name (``loss/gp`` defaults to 10, the lambda of Gulrajani et al. 2017).
"""

from __future__ import annotations

from typing import Callable, Iterable

import torch
from torch import nn
from torch.nn.utils import parametrizations, parametrize

Tensor = torch.Tensor

# Layers whose weight is a linear map: spectral norm and clipping apply to these.
LINEAR_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d)


def critic_score(output: Tensor | tuple) -> Tensor:
    """The score of a critic that returns either ``score`` or ``(score, features)``."""
    return output[0] if isinstance(output, (tuple, list)) else output


@torch.no_grad()
def clip_weights_(module: nn.Module, clip_value: float = 0.01) -> None:
    """Clamp every parameter of ``module`` to ``[-c, c]`` in place (WGAN, Arjovsky et al. 2017).

    Call after each critic optimizer step. ``c = 0.01`` is the paper's value.
    """
    for p in module.parameters():
        p.clamp_(-clip_value, clip_value)


def gradient_penalty(
    critic: Callable[[Tensor], Tensor | tuple],
    real: Tensor,
    fake: Tensor,
    one_sided: bool = False,
    generator: torch.Generator | None = None,
) -> Tensor:
    """WGAN-GP penalty (Gulrajani et al. 2017): ``E[(||grad D(x_hat)||_2 - 1)^2]``.

    ``x_hat = a * real + (1 - a) * fake`` with ``a ~ U[0, 1]`` drawn once per sample and broadcast over
    every other dimension, so it works for any input rank. The norm is taken over all non-batch
    dimensions. ``one_sided=True`` penalises only norms above 1: ``E[relu(||grad|| - 1)^2]``
    (Petzka et al. 2018). When the critic returns a map of scores, their sum per sample is
    differentiated. The graph is kept (``create_graph``) so the penalty trains the critic.

    Args:
        critic: a module or function returning ``score`` or ``(score, features)``.
        real, fake: ``(B, ...)``, same shape; ``fake`` is detached here.
        generator: optional ``torch.Generator`` for the interpolation weights (reproducibility).
    Returns:
        scalar penalty, unweighted.
    """
    if real.shape != fake.shape:
        raise ValueError(f"real {tuple(real.shape)} and fake {tuple(fake.shape)} differ in shape")
    shape = (real.shape[0],) + (1,) * (real.dim() - 1)
    alpha = torch.rand(shape, device=real.device, dtype=real.dtype, generator=generator)
    x_hat = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    score = critic_score(critic(x_hat))
    (grad,) = torch.autograd.grad(score.sum(), x_hat, create_graph=True)
    norm = grad.flatten(1).norm(2, dim=1)
    excess = norm - 1.0
    if one_sided:
        excess = torch.relu(excess)
    return excess.pow(2).mean()


def r1_penalty(critic: Callable[[Tensor], Tensor | tuple], real: Tensor) -> Tensor:
    """Zero-centred gradient penalty on real data (R1, Mescheder et al. 2018): ``E[||grad D(x)||_2^2]``.

    Unlike WGAN-GP it pulls the critic's slope at the data to zero, which makes the game converge
    locally instead of circling: generated samples settle on the modes rather than around them. The
    conventional ``gamma / 2`` factor belongs in the weight (``loss/r1``). Any input rank; a map of
    scores is summed per sample; the graph is kept so the penalty trains the critic.
    """
    x = real.detach().requires_grad_(True)
    score = critic_score(critic(x))
    (grad,) = torch.autograd.grad(score.sum(), x, create_graph=True)
    return grad.flatten(1).pow(2).sum(dim=1).mean()


def apply_spectral_norm(module: nn.Module, n_power_iterations: int = 1) -> nn.Module:
    """Put spectral norm (Miyato et al. 2018) on every linear and conv layer of ``module``, in place.

    Uses ``torch.nn.utils.parametrizations.spectral_norm``: the weight is divided by its largest
    singular value, estimated by power iteration (``n_power_iterations`` per training-mode forward).
    Layers that already carry a parametrized weight are left alone. Returns ``module``.
    """
    for layer in module.modules():
        if isinstance(layer, LINEAR_LAYERS) and not parametrize.is_parametrized(layer, "weight"):
            parametrizations.spectral_norm(layer, n_power_iterations=n_power_iterations)
    return module


def l2_penalty(params: nn.Module | Iterable[torch.Tensor], include_bias: bool = False) -> Tensor:
    """Squared L2 norm of the critic's weights, ``sum_w ||w||^2``, added to its loss.

    Against the weight divergence of Wasserstein critics: spectral norm rescales a weight at use but
    lets the stored (``original``) weight grow without bound; this penalty keeps it bounded. Counts
    every parameter with ``ndim >= 2`` (weights of linear and conv layers, minibatch tensors) and, with
    ``include_bias``, the 1-D ones too.

    Args:
        params: a module (all its parameters) or the parameters to penalise. A critic that grows in
            depth should pass only the parameters in use: decaying a block that has not grown in yet
            drives its weights to zero, and spectral norm then divides by a zero singular value.
    """
    tensors = params.parameters() if isinstance(params, nn.Module) else params
    chosen = [p for p in tensors if include_bias or p.dim() >= 2]
    if not chosen:
        return torch.zeros(())
    return sum(p.pow(2).sum() for p in chosen)


def drift_penalty(real_scores: Tensor) -> Tensor:
    """Drift penalty ``E[D(x)^2]`` (Karras et al. 2018, ProGAN), weight ``eps`` (0.001 there).

    Keeps Wasserstein scores near zero so they cannot drift together to large values.
    """
    return real_scores.pow(2).mean()
