"""Each adversarial loss against its formula, computed independently with explicit sigmoids/logs."""

import math

import pytest
import torch
from torch.testing import assert_close

from audiogan.gan import losses

REAL = torch.tensor([[2.0], [-0.5], [0.3]], dtype=torch.float64)
FAKE = torch.tensor([[-1.0], [0.7], [0.1]], dtype=torch.float64)


def _bce(scores, target):
    p = torch.sigmoid(scores)
    return -(target * torch.log(p) + (1 - target) * torch.log(1 - p)).mean()


def test_minimax_pair():
    expected = -torch.log(torch.sigmoid(REAL)).mean() - torch.log(1 - torch.sigmoid(FAKE)).mean()
    assert_close(losses.critic_loss_minimax(REAL, FAKE), expected)
    assert_close(losses.generator_loss_minimax(FAKE), torch.log(1 - torch.sigmoid(FAKE)).mean())


def test_nonsaturating_default_smoothing_is_one_sided():
    expected = _bce(REAL, 0.9) + _bce(FAKE, 0.0)
    assert_close(losses.critic_loss_nonsaturating(REAL, FAKE), expected)
    # A different smoothing target changes only the real term.
    expected_07 = _bce(REAL, 0.7) + _bce(FAKE, 0.0)
    assert_close(losses.critic_loss_nonsaturating(REAL, FAKE, real_target=0.7), expected_07)
    assert_close(losses.generator_loss_nonsaturating(FAKE), -torch.log(torch.sigmoid(FAKE)).mean())


def test_two_sided_smoothing_softens_the_fake_label_too():
    for critic in (losses.critic_loss_minimax, losses.critic_loss_nonsaturating):
        expected = _bce(REAL, 0.9) + _bce(FAKE, 0.1)
        assert_close(critic(REAL, FAKE, real_target=0.9, fake_target=0.1), expected)
        assert_close(critic(REAL, FAKE, real_target=0.9, fake_target=0.0), _bce(REAL, 0.9) + _bce(FAKE, 0.0))


def test_wasserstein_sign():
    assert_close(losses.critic_loss_wasserstein(REAL, FAKE), FAKE.mean() - REAL.mean())
    assert_close(losses.generator_loss_wasserstein(FAKE), -FAKE.mean())
    # The critic's loss falls when real scores rise and when fake scores fall.
    assert losses.critic_loss_wasserstein(REAL + 1, FAKE) < losses.critic_loss_wasserstein(REAL, FAKE)
    assert losses.critic_loss_wasserstein(REAL, FAKE - 1) < losses.critic_loss_wasserstein(REAL, FAKE)


def test_hinge_and_lsgan():
    hinge = sum(max(0.0, 1 - r) for r in REAL.flatten().tolist()) / 3 + sum(
        max(0.0, 1 + f) for f in FAKE.flatten().tolist()) / 3
    assert math.isclose(float(losses.critic_loss_hinge(REAL, FAKE)), hinge, rel_tol=1e-12)
    assert_close(losses.generator_loss_hinge(FAKE), -FAKE.mean())
    ls = 0.5 * sum((r - 1) ** 2 for r in REAL.flatten().tolist()) / 3 + 0.5 * sum(
        f ** 2 for f in FAKE.flatten().tolist()) / 3
    assert math.isclose(float(losses.critic_loss_lsgan(REAL, FAKE)), ls, rel_tol=1e-12)
    assert_close(losses.generator_loss_lsgan(FAKE), 0.5 * ((FAKE - 1) ** 2).mean())


def test_loss_registry_names_and_error():
    assert set(losses.ADVERSARIAL_LOSSES) == {"minimax", "nonsaturating", "wasserstein", "hinge", "lsgan"}
    with pytest.raises(ValueError, match="valid: hinge, lsgan, minimax"):
        losses.adversarial_loss("wgan")


def test_losses_accept_patch_maps():
    real, fake = torch.randn(4, 1, 7), torch.randn(4, 1, 7)
    for pair in losses.ADVERSARIAL_LOSSES.values():
        assert pair.critic(real, fake).dim() == 0
        assert pair.generator(fake).dim() == 0


def test_feature_matching_mean_and_paired():
    real = [torch.tensor([[1.0, 2.0], [3.0, 4.0]]), torch.tensor([[0.0], [2.0]])]
    fake = [torch.tensor([[0.0, 0.0], [1.0, 2.0]]), torch.tensor([[1.0], [1.0]])]
    # means: layer1 real (2,3) fake (0.5,1): ((1.5^2 + 2^2)/2); layer2 real 1 fake 1: 0
    assert_close(losses.feature_matching_loss(real, fake), torch.tensor((1.5 ** 2 + 2 ** 2) / 2))
    # paired L1: layer1 |diffs| = 1,2,2,2 -> 1.75; layer2 1,1 -> 1
    assert_close(losses.feature_matching_loss(real, fake, paired=True), torch.tensor(2.75))


def test_feature_matching_gradient_reaches_fake_only():
    real = [torch.randn(3, 4, requires_grad=True)]
    fake = [torch.randn(3, 4, requires_grad=True)]
    losses.feature_matching_loss(real, fake).backward()
    assert real[0].grad is None and fake[0].grad is not None


def test_diversity_loss_formula():
    fake = torch.tensor([[0.0, 0.0], [1.0, 1.0], [2.0, 0.0], [1.0, 3.0]])
    noise = torch.tensor([[0.0], [0.0], [1.0], [2.0]])
    # pairs (0,2): out |2,0| mean 1, in 1 -> 1 ; (1,3): out |0,2| mean 1, in 2 -> 0.5 ; mean ratio 0.75
    assert_close(losses.diversity_loss(fake, noise, eps=0.0), torch.tensor(1 / 0.75))
    # Spreading the outputs lowers the loss.
    assert losses.diversity_loss(2 * fake, noise) < losses.diversity_loss(fake, noise)


def _mmd_by_loops(x, y, bandwidths):
    """The unbiased MMD^2 estimate written out pair by pair (Gretton et al. 2012, eq. 3)."""
    import math

    def k(a, b):
        d2 = sum((ai - bi) ** 2 for ai, bi in zip(a, b))
        return sum(math.exp(-d2 / (2 * s * s)) for s in bandwidths)

    n, m = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(a, b) for a in x for b in y) / (n * m)
    return xx + yy - 2 * xy


def test_mmd_loss_matches_pairwise_sum():
    g = torch.Generator().manual_seed(0)
    real, fake = torch.randn(6, 3, generator=g), torch.randn(5, 3, generator=g) + 0.5
    expected = _mmd_by_loops(real.tolist(), fake.tolist(), (0.5, 2.0))
    assert abs(float(losses.mmd_loss(real, fake, (0.5, 2.0))) - expected) < 1e-5
    # Images are compared as vectors.
    assert_close(losses.mmd_loss(real.view(6, 1, 3), fake.view(5, 3, 1), (0.5, 2.0)),
                 losses.mmd_loss(real, fake, (0.5, 2.0)))


def test_mmd_loss_separates_distributions_and_its_gradient_descends():
    g = torch.Generator().manual_seed(1)
    real = torch.randn(400, 2, generator=g)
    same, shifted = torch.randn(400, 2, generator=g), torch.randn(400, 2, generator=g) + 1.0
    assert abs(float(losses.mmd_loss(real, same, (1.0,)))) < 0.01  # unbiased: about 0 for equal laws
    assert float(losses.mmd_loss(real, shifted, (1.0,))) > 0.1
    fake = shifted[:50].clone().requires_grad_(True)
    losses.mmd_loss(real, fake, (0.5, 2.0)).backward()
    stepped = fake.detach() - 5.0 * fake.grad
    assert losses.mmd_loss(real, stepped, (0.5, 2.0)) < losses.mmd_loss(real, fake.detach(), (0.5, 2.0))
    assert stepped.mean(0).norm() < fake.detach().mean(0).norm()  # the batch moved toward the real one
    with pytest.raises(ValueError):
        losses.mmd_loss(real[:1], fake, (1.0,))
    with pytest.raises(ValueError):
        losses.mmd_loss(real, fake, ())
