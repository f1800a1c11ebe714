"""Optimiser presets, TTUR, learning-rate schedules, and Adam's update against its rule by hand."""

import pytest
import torch
from torch import nn

from audiogan.gan import OptimizerConfig, make_optimizer, make_scheduler, preset, ttur


def test_optimizer_presets_and_ttur():
    assert preset("adam-wgan-gp").betas == (0.0, 0.9)
    assert preset("adam-dcgan").betas == (0.5, 0.999)
    opt = make_optimizer(nn.Linear(2, 2).parameters(), preset("rmsprop-wgan"))
    assert isinstance(opt, torch.optim.RMSprop)
    g, d = ttur(preset("adam-wgan-gp"), critic_lr=4e-4, generator_lr=1e-4)
    assert (g.lr, d.lr, d.betas) == (1e-4, 4e-4, (0.0, 0.9))
    with pytest.raises(ValueError, match="valid"):
        OptimizerConfig(name="adagrad")


def test_lr_schedule_values():
    layer = nn.Linear(1, 1)
    opt = make_optimizer(layer.parameters(), OptimizerConfig(lr=1.0))
    sched = make_scheduler(opt, OptimizerConfig(lr=1.0, schedule="linear", total_steps=4, final_lr_ratio=0.2))
    lrs = []
    for _ in range(5):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs == pytest.approx([1.0, 0.8, 0.6, 0.4, 0.2])
    assert make_scheduler(opt, OptimizerConfig()) is None


def test_adam_matches_its_update_rule_by_hand():
    # make_optimizer may pick the fused kernel: its update must still be Adam's (Kingma & Ba 2015, alg. 1).
    cfg = OptimizerConfig(lr=0.1, betas=(0.5, 0.9), eps=1e-8)
    p = nn.Parameter(torch.tensor([1.0, -2.0, 0.5]))
    opt = make_optimizer([p], cfg)
    grads = [torch.tensor([0.3, -1.0, 2.0]), torch.tensor([-0.1, 0.4, 1.0])]
    expected, m, v = p.detach().clone(), torch.zeros(3), torch.zeros(3)
    for t, g in enumerate(grads, start=1):
        p.grad = g.clone()
        opt.step()
        m = 0.5 * m + 0.5 * g
        v = 0.9 * v + 0.1 * g * g
        expected -= 0.1 * (m / (1 - 0.5 ** t)) / ((v / (1 - 0.9 ** t)).sqrt() + 1e-8)
        torch.testing.assert_close(p.detach(), expected)
