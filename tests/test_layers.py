import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.testing import assert_close

from audiogan.gan import layers as L


@pytest.mark.parametrize("dim,shape", [(1, (2, 3, 16)), (2, (2, 3, 8, 8))])
@pytest.mark.parametrize("norm", L.NORMS)
def test_conv_factory_norms(dim, shape, norm):
    layer = L.conv(dim, 3, 5, 3, padding=1, norm=norm)
    out = layer(torch.randn(*shape))
    assert out.shape == (shape[0], 5, *shape[2:])
    inner = layer[0] if norm == "batch" else layer
    assert parametrize.is_parametrized(inner, "weight") == (norm in ("weight", "spectral"))
    if norm == "batch":
        assert isinstance(layer[1], (nn.BatchNorm1d, nn.BatchNorm2d))


def test_conv_factory_transposed_and_errors():
    up = L.conv(1, 4, 2, 4, stride=2, padding=1, transposed=True, norm="spectral")
    assert up(torch.randn(1, 4, 10)).shape == (1, 2, 20)
    with pytest.raises(ValueError, match="valid: none, batch, weight, spectral"):
        L.conv(1, 1, 1, 1, norm="layer")
    with pytest.raises(ValueError):
        L.conv(3, 1, 1, 1)


def test_linear_factory():
    assert parametrize.is_parametrized(L.linear(3, 4, norm="spectral"), "weight")


def test_minibatch_discrimination_separates_identical_from_diverse():
    torch.manual_seed(0)
    mbd = L.MinibatchDiscrimination(in_features=6, n_kernels=4, kernel_dim=3)
    same = torch.randn(1, 6).repeat(8, 1)
    diverse = torch.randn(8, 6) * 50
    o_same = mbd(same)[:, 6:]
    o_diverse = mbd(diverse)[:, 6:]
    assert_close(o_same, torch.full((8, 4), 7.0))  # sum over the 7 others of exp(0)
    assert float(o_diverse.detach().max()) < 1.0
    assert mbd(torch.randn(8, 2, 3)).shape == (8, 10)  # any input rank is flattened


def test_minibatch_stddev_values_and_shapes():
    layer = L.MinibatchStdDev(group_size=2, eps=0.0)
    x = torch.tensor([[0.0, 2.0], [4.0, 6.0], [2.0, 2.0], [4.0, 10.0]])
    out = layer(x)
    # groups by index i % 2: {0, 2} and {1, 3}; std over group, mean over features
    g0 = ((torch.tensor([0.0, 2.0]) - torch.tensor([2.0, 2.0])).abs() / 2).mean()
    g1 = ((torch.tensor([4.0, 6.0]) - torch.tensor([4.0, 10.0])).abs() / 2).mean()
    assert_close(out[:, 2], torch.stack([g0, g1, g0, g1]))
    assert layer(torch.randn(4, 3, 5)).shape == (4, 4, 5)
    assert layer(torch.randn(4, 3, 5, 5)).shape == (4, 4, 5, 5)
    with pytest.raises(ValueError):
        L.MinibatchStdDev(group_size=4)(torch.randn(6, 3))


def test_minibatch_stddev_matches_torch_var_with_gradients():
    torch.manual_seed(0)
    x = torch.randn(8, 3, 4, 4, dtype=torch.float64, requires_grad=True)
    out = L.MinibatchStdDev(group_size=4)(x)
    ref_std = (x.view(4, 2, 3, 4, 4).var(dim=0, unbiased=False) + 1e-8).sqrt().flatten(1).mean(1).repeat(4)
    assert_close(out[:, 3, 0, 0], ref_std)
    (g,) = torch.autograd.grad(out[:, 3].sum(), x)
    (g_ref,) = torch.autograd.grad(ref_std.sum() * 16, x)
    assert_close(g, g_ref)


def test_fade_in():
    old, new = torch.zeros(3), torch.ones(3) * 4
    assert_close(L.fade_in(old, new, 0.25), torch.ones(3))
    assert_close(L.fade_in(old, new, 0.0), old)
    assert_close(L.fade_in(old, new, 1.0), new)


def test_growing_stack_every_depth():
    blocks = [nn.Linear(3, 3) for _ in range(5)]
    stack = L.GrowingResidualStack(blocks)
    names = [n for n, _ in stack.named_parameters()]
    x = torch.randn(2, 3)
    for depth in range(6):
        ref = x
        for b in blocks[:depth]:
            ref = ref + b(ref)
        assert_close(stack(x, depth=depth), ref)
        assert [n for n, _ in stack.named_parameters()] == names
    # alpha = 0: the newest block contributes nothing; alpha blends it in linearly.
    assert_close(stack(x, depth=3, alpha=0.0), stack(x, depth=2))
    prev = stack(x, depth=2)
    assert_close(stack(x, depth=3, alpha=0.5), prev + 0.5 * blocks[2](prev))
    with pytest.raises(ValueError):
        stack(x, depth=6)


def test_growing_stack_inactive_blocks_get_no_gradient():
    stack = L.GrowingResidualStack([nn.Linear(2, 2) for _ in range(3)])
    stack(torch.randn(4, 2), depth=2).sum().backward()
    assert stack.blocks[2].weight.grad is None and stack.blocks[1].weight.grad is not None


def test_pack_groups_consecutive_samples():
    x = torch.arange(24.0).reshape(6, 2, 2)
    packed = L.pack(x, 3)
    assert packed.shape == (2, 12)
    torch.testing.assert_close(packed[1], torch.cat([x[3].flatten(), x[4].flatten(), x[5].flatten()]))
    assert L.pack(x, 1).shape == (6, 4)
    with pytest.raises(ValueError, match="packs of 4"):
        L.pack(x, 4)


def test_packed_toy_critic_scores_one_per_pack():
    from audiogan.toy.model import MLPCritic, ToyModelConfig

    critic = MLPCritic(ToyModelConfig(pack=4))
    score, feats = critic(torch.randn(16, 2))
    assert score.shape == (4,) and feats[0].shape == (4, 200)
    assert critic.hidden[0][0].in_features == 8
