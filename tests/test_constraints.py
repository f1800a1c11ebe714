"""Constraints and penalties against closed forms and torch.linalg."""

import pytest
import torch
from torch import nn
from torch.testing import assert_close

from audiogan.gan import constraints as C


class LinearCritic(nn.Module):
    """D(x) = <w, x> + b: its gradient is w at every point, for any input shape."""

    def __init__(self, shape, with_features=False):
        super().__init__()
        self.w = nn.Parameter(torch.randn(*shape, dtype=torch.float64))
        self.b = nn.Parameter(torch.tensor(0.3, dtype=torch.float64))
        self.with_features = with_features

    def forward(self, x):
        score = (x * self.w).flatten(1).sum(1) + self.b
        return (score, [x * 2]) if self.with_features else score


@pytest.mark.parametrize("shape", [(5,), (2, 7), (3, 4, 4)])  # input ranks 2, 3, 4 with the batch
@pytest.mark.parametrize("with_features", [False, True])
def test_gradient_penalty_linear_critic(shape, with_features):
    critic = LinearCritic(shape, with_features)
    real = torch.randn(6, *shape, dtype=torch.float64)
    fake = torch.randn(6, *shape, dtype=torch.float64)
    expected = (critic.w.detach().norm() - 1) ** 2
    assert_close(C.gradient_penalty(critic, real, fake), expected)
    one_sided = torch.relu(critic.w.detach().norm() - 1) ** 2
    assert_close(C.gradient_penalty(critic, real, fake, one_sided=True), one_sided)


def test_gradient_penalty_one_sided_ignores_small_gradients():
    critic = LinearCritic((4,))
    with torch.no_grad():
        critic.w.mul_(0.1 / critic.w.norm())  # ||w|| = 0.1 < 1
    real, fake = torch.randn(3, 4, dtype=torch.float64), torch.randn(3, 4, dtype=torch.float64)
    assert float(C.gradient_penalty(critic, real, fake, one_sided=True).detach()) == 0.0
    assert_close(C.gradient_penalty(critic, real, fake), torch.tensor(0.81, dtype=torch.float64))


def test_gradient_penalty_quadratic_critic_hand_gradient():
    """D(x) = 0.5 ||x||^2 has gradient x_hat; replay the interpolation weights from the same seed."""
    critic = lambda x: 0.5 * x.pow(2).flatten(1).sum(1)  # noqa: E731
    real = torch.randn(5, 2, 3, dtype=torch.float64)
    fake = torch.randn(5, 2, 3, dtype=torch.float64)
    got = C.gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(7))
    alpha = torch.rand((5, 1, 1), dtype=torch.float64, generator=torch.Generator().manual_seed(7))
    x_hat = alpha * real + (1 - alpha) * fake
    expected = ((x_hat.flatten(1).norm(dim=1) - 1) ** 2).mean()
    assert_close(got, expected)


@pytest.mark.parametrize("shape", [(5,), (3, 4, 4)])
def test_r1_penalty_linear_and_cubic_critics(shape):
    critic = LinearCritic(shape, with_features=True)
    real = torch.randn(6, *shape, dtype=torch.float64)
    assert_close(C.r1_penalty(critic, real), critic.w.detach().pow(2).sum())  # grad = w everywhere
    # D(x) = sum(x^3) / 3 has gradient x^2 (elementwise): R1 = mean over samples of sum(x^4).
    cubic = lambda x: x.pow(3).flatten(1).sum(1) / 3  # noqa: E731
    assert_close(C.r1_penalty(cubic, real), real.pow(4).flatten(1).sum(1).mean())


def test_r1_penalty_trains_the_critic_towards_a_flat_slope():
    critic = LinearCritic((3,))
    real = torch.randn(4, 3, dtype=torch.float64)
    C.r1_penalty(critic, real).backward()
    assert_close(critic.w.grad, 2 * critic.w.detach())  # d||w||^2 / dw


def test_gradient_penalty_trains_the_critic():
    critic = LinearCritic((3,))
    real, fake = torch.randn(4, 3, dtype=torch.float64), torch.randn(4, 3, dtype=torch.float64)
    C.gradient_penalty(critic, real, fake).backward()
    w = critic.w.detach()
    assert_close(critic.w.grad, 2 * (w.norm() - 1) * w / w.norm())


def test_spectral_norm_matches_top_singular_value():
    module = nn.Sequential(nn.Linear(6, 9), nn.ReLU(), nn.Conv1d(3, 5, 4), nn.Conv2d(2, 4, 3))
    raw = [module[0].weight.detach().clone(), module[2].weight.detach().clone(), module[3].weight.detach().clone()]
    C.apply_spectral_norm(module, n_power_iterations=1)
    for layer in (module[0], module[2], module[3]):
        assert torch.nn.utils.parametrize.is_parametrized(layer, "weight")
    module.train()
    for _ in range(200):  # converge the power iteration
        for layer in (module[0], module[2], module[3]):
            _ = layer.weight
    for layer, w in zip((module[0], module[2], module[3]), raw):
        sigma = torch.linalg.svdvals(w.reshape(w.shape[0], -1))[0]
        normalised = layer.weight.detach()
        assert_close(normalised, w / sigma, rtol=1e-4, atol=1e-5)
        assert_close(torch.linalg.svdvals(normalised.reshape(w.shape[0], -1))[0], torch.tensor(1.0), rtol=1e-4, atol=1e-5)


def test_spectral_norm_is_applied_once():
    module = nn.Linear(3, 3)
    C.apply_spectral_norm(module)
    C.apply_spectral_norm(module)
    assert len(module.parametrizations.weight) == 1


def test_clip_weights_bounds():
    module = nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 1))
    with torch.no_grad():
        for p in module.parameters():
            p.mul_(100)
    C.clip_weights_(module, 0.01)
    for p in module.parameters():
        assert p.abs().max() <= 0.01
        assert float(p.detach().abs().max()) == pytest.approx(0.01)  # large weights sit on the bound


def test_l2_penalty_hand_computation():
    module = nn.Linear(2, 2)
    with torch.no_grad():
        module.weight.copy_(torch.tensor([[1.0, -2.0], [0.5, 3.0]]))
        module.bias.copy_(torch.tensor([1.0, 1.0]))
    assert float(C.l2_penalty(module).detach()) == pytest.approx(1 + 4 + 0.25 + 9)
    assert float(C.l2_penalty(module, include_bias=True).detach()) == pytest.approx(1 + 4 + 0.25 + 9 + 2)


def test_l2_penalty_reaches_spectral_norm_original_weight():
    module = C.apply_spectral_norm(nn.Linear(3, 2))
    original = module.parametrizations.weight.original
    C.l2_penalty(module).backward()
    assert_close(original.grad, 2 * original.detach())


def test_drift_penalty():
    scores = torch.tensor([1.0, -2.0, 3.0])
    assert float(C.drift_penalty(scores)) == pytest.approx((1 + 4 + 9) / 3)
