"""Adversarial losses, feature matching and diversity: small pure functions.

Every function takes critic outputs of any shape ``(B, ...)`` (one score per sample, or a map of
patch scores) and returns a scalar to *minimise*. Critic losses come in pairs with generator losses of
the same family, looked up by name in :data:`ADVERSARIAL_LOSSES`.

Scores are raw critic outputs: no sigmoid is applied by any critic here. The BCE families apply it
inside the loss through ``softplus`` for numerical stability:
``-log sigmoid(s) = softplus(-s)`` and ``-log(1 - sigmoid(s)) = softplus(s)``.
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Sequence

import torch
import torch.nn.functional as F

Tensor = torch.Tensor


def _bce_critic(real: Tensor, fake: Tensor, real_target: float, fake_target: float = 0.0) -> Tensor:
    """Binary cross-entropy of the critic with (possibly smoothed) real and fake targets."""
    real_term = F.binary_cross_entropy_with_logits(real, torch.full_like(real, real_target))
    if fake_target:
        fake_term = F.binary_cross_entropy_with_logits(fake, torch.full_like(fake, fake_target))
    else:
        fake_term = F.softplus(fake).mean()  # BCE with target 0
    return real_term + fake_term


def critic_loss_minimax(real: Tensor, fake: Tensor, real_target: float = 1.0, fake_target: float = 0.0) -> Tensor:
    """Critic loss of the original GAN (Goodfellow et al. 2014).

    ``-E[log D(x)] - E[log(1 - D(G(z)))]`` with ``D = sigmoid(score)``. ``real_target`` < 1 gives
    one-sided label smoothing (Salimans et al. 2016); ``fake_target`` > 0 as well gives two-sided soft
    labels (Szegedy et al. 2016's smoothing of both classes), which also bounds the logit on fakes.
    """
    return _bce_critic(real, fake, real_target, fake_target)


def generator_loss_minimax(fake: Tensor) -> Tensor:
    """Saturating generator loss ``E[log(1 - D(G(z)))]`` (minimised).

    Its gradient vanishes when the critic confidently rejects fakes: kept as the baseline that shows it.
    """
    return -F.softplus(fake).mean()


def critic_loss_nonsaturating(real: Tensor, fake: Tensor, real_target: float = 0.9,
                              fake_target: float = 0.0) -> Tensor:
    """BCE critic loss with one-sided label smoothing, real target 0.9 by default (Salimans et al. 2016)."""
    return _bce_critic(real, fake, real_target, fake_target)


def generator_loss_nonsaturating(fake: Tensor) -> Tensor:
    """Non-saturating generator loss ``-E[log D(G(z))]`` (Goodfellow et al. 2014, section 3)."""
    return F.softplus(-fake).mean()


def critic_loss_wasserstein(real: Tensor, fake: Tensor) -> Tensor:
    """WGAN critic loss (Arjovsky et al. 2017): minimises ``E[D(G(z))] - E[D(x)]``.

    The critic has no sigmoid; it maximises the real-fake score gap, which needs a Lipschitz constraint
    (clipping, gradient penalty or spectral norm) to stay finite.
    """
    return fake.mean() - real.mean()


def generator_loss_wasserstein(fake: Tensor) -> Tensor:
    """WGAN generator loss ``-E[D(G(z))]``."""
    return -fake.mean()


def critic_loss_hinge(real: Tensor, fake: Tensor) -> Tensor:
    """Hinge critic loss (Lim & Ye 2017; Miyato et al. 2018): ``E[relu(1 - D(x))] + E[relu(1 + D(G(z)))]``."""
    return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()


def generator_loss_hinge(fake: Tensor) -> Tensor:
    """Hinge generator loss ``-E[D(G(z))]``."""
    return -fake.mean()


def critic_loss_lsgan(real: Tensor, fake: Tensor) -> Tensor:
    """Least-squares critic loss (Mao et al. 2017), targets 1 (real) and 0 (fake):
    ``0.5 E[(D(x) - 1)^2] + 0.5 E[D(G(z))^2]``."""
    return 0.5 * (real - 1.0).pow(2).mean() + 0.5 * fake.pow(2).mean()


def generator_loss_lsgan(fake: Tensor) -> Tensor:
    """Least-squares generator loss ``0.5 E[(D(G(z)) - 1)^2]``."""
    return 0.5 * (fake - 1.0).pow(2).mean()


class LossPair(NamedTuple):
    critic: Callable[..., Tensor]
    generator: Callable[[Tensor], Tensor]
    smoothing: bool  # whether the critic loss takes ``real_target`` and ``fake_target``


ADVERSARIAL_LOSSES: dict[str, LossPair] = {
    "minimax": LossPair(critic_loss_minimax, generator_loss_minimax, True),
    "nonsaturating": LossPair(critic_loss_nonsaturating, generator_loss_nonsaturating, True),
    "wasserstein": LossPair(critic_loss_wasserstein, generator_loss_wasserstein, False),
    "hinge": LossPair(critic_loss_hinge, generator_loss_hinge, False),
    "lsgan": LossPair(critic_loss_lsgan, generator_loss_lsgan, False),
}


def adversarial_loss(name: str) -> LossPair:
    """The (critic, generator) loss pair called ``name``; a clear error lists the valid names."""
    try:
        return ADVERSARIAL_LOSSES[name]
    except KeyError:
        valid = ", ".join(sorted(ADVERSARIAL_LOSSES))
        raise ValueError(f"unknown adversarial loss {name!r}; valid: {valid}") from None


def feature_matching_loss(
    real_features: Sequence[Tensor], fake_features: Sequence[Tensor], paired: bool = False
) -> Tensor:
    """Feature matching on the critic's intermediate activations.

    ``paired=False`` (Salimans et al. 2016, eq. 4): the generator matches the *batch mean* of each
    feature map, ``sum_l mean_j (E_x[f_l(x)]_j - E_z[f_l(G(z))]_j)^2``; real and fake batches need not be
    aligned. ``paired=True`` (MelGAN, Kumar et al. 2019): mean absolute difference between the features
    of aligned real/fake samples, for transformation tasks where sample ``i`` of both batches belongs
    together. Real features are detached: only the generator learns from this loss.

    Args:
        real_features, fake_features: one tensor ``(B, ...)`` per critic layer, same shapes per layer
            (``B`` may differ between real and fake when ``paired=False``).
    """
    if len(real_features) != len(fake_features):
        raise ValueError("real and fake feature lists differ in length")
    total = torch.zeros((), device=fake_features[0].device) if fake_features else torch.zeros(())
    for real, fake in zip(real_features, fake_features):
        real = real.detach()
        if paired:
            total = total + (real - fake).abs().mean()
        else:
            total = total + (real.mean(dim=0) - fake.mean(dim=0)).pow(2).mean()
    return total


def diversity_loss(fake: Tensor, noise: Tensor, eps: float = 1e-5) -> Tensor:
    """Mode-seeking diversity loss (Mao et al. 2019, MSGAN), on pairs formed inside one batch.

    The batch is split in halves ``a``, ``b``; for each pair the ratio
    ``r = mean|G(z_a) - G(z_b)| / mean|z_a - z_b|`` rewards outputs that move when the noise moves.
    Returns ``1 / (mean(r) + eps)``, which falls as outputs spread apart (MSGAN's formulation), so no
    extra generator pass is needed.

    Args:
        fake: ``(B, ...)`` generator outputs for ``noise``; ``B`` even (an odd last sample is dropped).
        noise: ``(B, ...)`` generator inputs.
    """
    half = fake.shape[0] // 2
    if half == 0:
        raise ValueError("diversity_loss needs a batch of at least 2")
    out_dist = (fake[:half] - fake[half : 2 * half]).abs().flatten(1).mean(dim=1)
    in_dist = (noise[:half] - noise[half : 2 * half]).abs().flatten(1).mean(dim=1)
    ratio = (out_dist / (in_dist + eps)).mean()
    return 1.0 / (ratio + eps)


def mmd_loss(real: Tensor, fake: Tensor, bandwidths: Sequence[float]) -> Tensor:
    """Squared maximum mean discrepancy (Gretton et al. 2012) between a real and a fake batch.

    Unbiased estimate under ``k(a, b) = sum_s exp(-|a - b|^2 / (2 s^2))`` over the ``bandwidths`` ``s``
    (data units): ``mean_{i != j} k(x_i, x_j) + mean_{i != j} k(y_i, y_j) - 2 mean_{i, j} k(x_i, y_j)``.
    It is zero in expectation only when the two distributions are equal, so as a generator term
    (generative moment matching, Li et al. 2015) it pulls samples from empty regions toward real mass
    and evens out how often each region is visited: a mode-coverage remedy with no critic in the loop.
    Real samples are detached. Samples are flattened to vectors.

    Args:
        real: ``(N, ...)`` real samples, ``N >= 2``.
        fake: ``(M, ...)`` generated samples, ``M >= 2``.
        bandwidths: kernel widths; several scales cover both nearby and distant mass.
    """
    x, y = real.detach().flatten(1).float(), fake.flatten(1).float()
    n, m = x.shape[0], y.shape[0]
    if n < 2 or m < 2:
        raise ValueError("mmd_loss needs at least 2 real and 2 fake samples")
    if not bandwidths or min(bandwidths) <= 0:
        raise ValueError("mmd_loss needs positive bandwidths")
    both = torch.cat([x, y])
    d2 = torch.cdist(both, both).pow(2)
    k = sum(torch.exp(-d2 / (2 * s * s)) for s in bandwidths)
    kxx, kyy, kxy = k[:n, :n], k[n:, n:], k[:n, n:]
    diag = float(len(bandwidths))  # k(a, a) for every sample
    return ((kxx.sum() - n * diag) / (n * (n - 1)) + (kyy.sum() - m * diag) / (m * (m - 1))
            - 2 * kxy.mean())
