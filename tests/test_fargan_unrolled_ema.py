import copy

import pytest
import torch
from torch import nn
from torch.testing import assert_close

from audiogan.gan import EMA, FakeAsRealBuffer, losses, swap_state
from audiogan.gan.unrolled import unrolled_generator_loss


def test_fargan_picks_argmax_fakes():
    buf = FakeAsRealBuffer(count=2)
    fake = torch.arange(5 * 3, dtype=torch.float32).view(5, 3)
    scores = torch.tensor([0.1, 2.0, -1.0, 5.0, 0.3])
    idx = buf.select(fake, scores)
    assert sorted(idx.tolist()) == [1, 3]
    assert_close(buf.held, fake[[3, 1]])
    real = torch.zeros(4, 3)
    mixed = buf.mix(real)
    assert mixed.shape == (6, 3) and torch.equal(mixed[4:], fake[[3, 1]])
    assert buf.n_held == 2


def test_fargan_patch_scores_and_state():
    buf = FakeAsRealBuffer(count=1)
    fake = torch.randn(3, 1, 8)
    scores = torch.zeros(3, 1, 4)
    scores[2, 0, 1] = 10.0  # highest mean score: sample 2
    buf.select(fake, scores)
    assert torch.equal(buf.held, fake[2:3])
    other = FakeAsRealBuffer(count=1)
    other.load_state_dict(buf.state_dict())
    assert torch.equal(other.held, buf.held)
    assert buf.mix(torch.zeros(2, 1, 5)).shape == (2, 1, 5)  # mismatched length: dropped
    assert FakeAsRealBuffer(0).mix(torch.zeros(2, 3)).shape == (2, 3)


def _tiny_problem():
    torch.manual_seed(1)
    critic = nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 1)).double()
    theta = torch.randn(2, 2, dtype=torch.float64, requires_grad=True)  # generator: fake = z @ theta
    z = torch.randn(6, 2, dtype=torch.float64)
    real = torch.randn(6, 2, dtype=torch.float64) + 1.0
    return critic, theta, z, real


def _loss(critic, theta, z, real, steps, second_order=True):
    return unrolled_generator_loss(critic, real, z @ theta, losses.critic_loss_nonsaturating,
                                   losses.generator_loss_nonsaturating, steps=steps, lr=0.5,
                                   second_order=second_order)


def test_unrolled_gradient_matches_finite_differences():
    critic, theta, z, real = _tiny_problem()
    before = copy.deepcopy(critic.state_dict())
    (grad,) = torch.autograd.grad(_loss(critic, theta, z, real, steps=3), theta)
    eps = 1e-6
    numeric = torch.zeros_like(theta)
    for i in range(2):
        for j in range(2):
            d = torch.zeros_like(theta)
            d[i, j] = eps
            plus = _loss(critic, (theta + d).detach(), z, real, 3).detach()
            minus = _loss(critic, (theta - d).detach(), z, real, 3).detach()
            numeric[i, j] = (plus - minus) / (2 * eps)
    assert_close(grad, numeric, rtol=1e-5, atol=1e-8)
    for k, v in critic.state_dict().items():  # the real critic is untouched
        assert torch.equal(v, before[k])


def test_unrolled_gradient_differs_from_plain_and_first_order():
    critic, theta, z, real = _tiny_problem()
    (unrolled,) = torch.autograd.grad(_loss(critic, theta, z, real, steps=3), theta)
    (plain,) = torch.autograd.grad(_loss(critic, theta, z, real, steps=0), theta)
    (first,) = torch.autograd.grad(_loss(critic, theta, z, real, steps=3, second_order=False), theta)
    assert (unrolled - plain).abs().max() > 1e-3
    assert (unrolled - first).abs().max() > 1e-4  # the second-order term is really there


def test_ema_formula_and_swap():
    model = nn.Linear(2, 1)
    ema = EMA(model, decay=0.9)
    start = {k: v.clone() for k, v in ema.state_dict().items()}
    with torch.no_grad():
        model.weight.add_(1.0)
    ema.update(model)
    assert_close(ema.module.weight, 0.9 * start["weight"] + 0.1 * model.weight.detach())
    assert_close(ema.module.bias, start["bias"])  # bias unchanged in the model -> unchanged
    with swap_state(model, ema.state_dict()):
        assert_close(model.weight, ema.module.weight)
    assert not torch.equal(model.weight, ema.module.weight)
    with pytest.raises(ValueError):
        EMA(model, decay=1.0)


def test_ema_bias_correction_is_the_normalised_weighted_mean():
    # With correction the EMA after n updates is sum_i (1-d) d^(n-i) w_i / (1 - d^n): no share of the start.
    model = nn.Linear(3, 2)
    ema = EMA(model, decay=0.9, bias_correction=True)
    seen = []
    for _ in range(5):
        with torch.no_grad():
            model.weight.add_(torch.randn_like(model.weight))
        seen.append(model.weight.detach().clone())
        ema.update(model)
    n, d = len(seen), 0.9
    expected = sum((1 - d) * d ** (n - 1 - i) * w for i, w in enumerate(seen)) / (1 - d ** n)
    assert_close(ema.module.weight, expected)
    assert ema.updates == 5
    plain = EMA(nn.Linear(3, 2), decay=0.9)
    assert plain.current_decay() == 0.9
