import itertools
from dataclasses import dataclass, field, replace

import pytest
import torch
from torch import nn

from audiogan.gan import (AdversarialConfig, AdversarialTrainer, GrowingResidualStack, GrowthSchedule, LossWeights,
                          OptimizerConfig, make_optimizer, make_scheduler)
from audiogan.gan.grads import grad_norms_by_group


class Gen(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(2, 8)
        self.stack = GrowingResidualStack([nn.Sequential(nn.Linear(8, 8), nn.Tanh()) for _ in range(3)])
        self.out = nn.Linear(8, 2)

    def forward(self, z, depth=None, alpha=1.0, fade_blocks=1):
        return self.out(self.stack(self.inp(z), depth, alpha, fade_blocks))


class Critic(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(2, 8), nn.LeakyReLU(0.2))
        self.head = nn.Linear(8, 1)

    def forward(self, x, **_):
        h = self.body(x)
        return self.head(h).squeeze(1), [h]


def batches(seed=0, n=8):
    g = torch.Generator().manual_seed(seed)
    while True:
        yield torch.randn(n, 2, generator=g), torch.randn(n, 2, generator=g) * 0.1 + 1.0


def make(cfg, **kw):
    torch.manual_seed(0)
    g, d = Gen(), Critic()
    return AdversarialTrainer(g, d, make_optimizer(g.parameters(), OptimizerConfig(lr=1e-3)),
                              make_optimizer(d.parameters(), OptimizerConfig(lr=1e-3)), cfg, **kw)


def snapshot(*modules):
    return [p.detach().clone() for m in modules for p in m.parameters()]


@pytest.mark.parametrize("cfg", [
    AdversarialConfig(loss="wasserstein", weights={"loss/gp": 10.0}, n_critic=2),
    AdversarialConfig(loss="nonsaturating", weights={"loss/r1": 1.0}, gp_every=2),
    AdversarialConfig(loss="nonsaturating", real_target=0.9, n_gen=2),
    AdversarialConfig(loss="minimax"),
    AdversarialConfig(loss="hinge", weights={"loss/l2": 1e-3, "loss/drift": 1e-3}),
    AdversarialConfig(loss="lsgan", weights={"loss/fm": 1.0, "loss/div": 0.1}),
    AdversarialConfig(loss="wasserstein", clip_value=0.01),
    AdversarialConfig(loss="nonsaturating", weights={"loss/mmd": 10.0}, mmd_bandwidths=(0.5, 1.0)),
    AdversarialConfig(loss="wasserstein", fargan_count=2, ema_decay=0.9),
    AdversarialConfig(loss="nonsaturating", top_k=0.5, top_k_steps=2),
    AdversarialConfig(loss="nonsaturating", unrolled_steps=2, weights={"loss/fm": 1.0}),
    AdversarialConfig(loss="nonsaturating", unrolled_steps=2, unrolled_second_order=False),
    AdversarialConfig(loss="wasserstein", instance_noise=0.1, instance_noise_steps=2, fargan_count=1,
                      weights={"loss/gp": 1.0, "loss/fm": 1.0}),
])
def test_every_option_trains(cfg):
    tr = make(cfg)
    before = snapshot(tr.generator, tr.critic)
    it = batches()
    for _ in range(3):
        stats = tr.train_iteration(it)
    after = snapshot(tr.generator, tr.critic)
    assert all(torch.isfinite(v).all() for v in after)
    assert any(not torch.equal(a, b) for a, b in zip(before, after))
    assert tr.step == 3 and stats["guard/skipped"] == 0
    assert {"loss/critic", "loss/adv", "critic/gap", "grad/generator", "grad/critic"} <= stats.keys()
    for name, w in cfg.weights.as_dict().items():
        if w and name not in ("loss/critic", "loss/adv"):
            assert name in stats


def test_weighted_total_is_sum_over_named_terms():
    tr = make(AdversarialConfig(weights={"loss/gp": 10.0, "loss/drift": 0.5}))
    terms = {"loss/critic": torch.tensor(1.0), "loss/gp": torch.tensor(2.0), "loss/drift": torch.tensor(4.0)}
    assert float(tr._weighted(terms)) == pytest.approx(1 + 20 + 2)
    with pytest.raises(KeyError, match="loss/recon"):
        tr._weighted({"loss/recon": torch.tensor(1.0)})


def test_clip_value_bounds_critic_after_step():
    tr = make(AdversarialConfig(clip_value=0.01))
    tr.train_iteration(batches())
    assert max(float(p.detach().abs().max()) for p in tr.critic.parameters()) <= 0.01


def test_n_critic_and_n_gen_counts():
    tr = make(AdversarialConfig(n_critic=3, n_gen=2))
    calls = {"c": 0, "g": 0}
    orig_c, orig_g = tr.critic_opt.step, tr.generator_opt.step
    tr.critic_opt.step = lambda *a, **k: (calls.__setitem__("c", calls["c"] + 1), orig_c(*a, **k))
    tr.generator_opt.step = lambda *a, **k: (calls.__setitem__("g", calls["g"] + 1), orig_g(*a, **k))
    tr.train_iteration(batches())
    assert calls == {"c": 3, "g": 2}


def test_nan_guard_leaves_every_weight_unchanged():
    tr = make(AdversarialConfig(ema_decay=0.5, weights={"loss/gp": 10.0}))
    before = snapshot(tr.generator, tr.critic, tr.ema.module)
    opt_state = {k: v for k, v in tr.critic_opt.state.items()}
    bad = itertools.repeat((torch.full((8, 2), float("nan")), torch.randn(8, 2)))
    stats = tr.train_iteration(bad)
    assert stats["guard/skipped"] == 2
    for a, b in zip(before, snapshot(tr.generator, tr.critic, tr.ema.module)):
        assert torch.equal(a, b)
    assert tr.critic_opt.state == opt_state


def test_nan_guard_catches_infinite_gradient():
    tr = make(AdversarialConfig(loss="wasserstein"))
    before = snapshot(tr.critic)
    real = torch.full((8, 2), 1e38)  # finite input, loss overflows in the backward pass
    tr.critic_step(torch.randn(8, 2), real * 1e10)
    assert tr.skipped == 1
    for a, b in zip(before, snapshot(tr.critic)):
        assert torch.equal(a, b)


def test_growth_kwargs_reach_generator_and_are_logged():
    sched = GrowthSchedule(start_depth=1, max_depth=3, stable_steps=2, fade_steps=2)
    tr = make(AdversarialConfig(), generator_growth=sched)
    it = batches()
    seen = [tr.train_iteration(it) for _ in range(5)]
    assert [s["growth/generator_depth"] for s in seen] == [1, 1, 2, 2, 2]
    assert [s["growth/generator_alpha"] for s in seen] == [1.0, 1.0, 0.0, 0.5, 1.0]
    assert tr.generator.stack.blocks[2][0].weight.grad is None  # never active yet


def test_state_roundtrip_resumes_identically(weights_only_roundtrip):
    cfg = AdversarialConfig(weights={"loss/gp": 10.0}, ema_decay=0.9, fargan_count=1)
    opt = OptimizerConfig(lr=1e-3, schedule="linear", total_steps=10)

    def build():
        tr = make(cfg)
        scheds = {"generator": make_scheduler(tr.generator_opt, opt), "critic": make_scheduler(tr.critic_opt, opt)}
        tr.schedulers = scheds
        return tr

    data = list(itertools.islice(batches(), 12))
    a = build()
    torch.manual_seed(5)
    for i in range(0, 12, 2):
        a.train_iteration(iter(data[i:i + 2]))
        if i == 4:
            models = {k: {n: t.clone() for n, t in v.items()} for k, v in a.model_state().items()}
            state = weights_only_roundtrip(a.training_state())
            rng = torch.get_rng_state()
    b = build()
    b.load_state(models, state)
    torch.set_rng_state(rng)
    for i in range(6, 12, 2):
        b.train_iteration(iter(data[i:i + 2]))
    for (k, va), vb in zip(a.model_state().items(), b.model_state().values()):
        for n in va:
            assert torch.equal(va[n], vb[n]), (k, n)
    assert b.step == a.step == 6


def test_grad_norms_by_group_lists_each_block():
    tr = make(AdversarialConfig())
    tr.generator_step(*next(batches()))
    norms = grad_norms_by_group(tr.generator, "generator")
    blocks = {f"grad/generator/stack.blocks.{i}" for i in range(3)}
    assert norms.keys() == {"grad/generator/inp", "grad/generator/out"} | blocks
    assert all(v > 0 for v in norms.values())
    # Against a direct computation for one group.
    expected = torch.linalg.vector_norm(torch.cat([p.grad.flatten() for p in tr.generator.out.parameters()]))
    assert norms["grad/generator/out"] == pytest.approx(float(expected), rel=1e-5)


@dataclass
class ReconWeights(LossWeights):
    """An application's weights: the core's terms plus its own ``loss/recon``."""

    recon: float = 1.0


@dataclass
class ReconAdversarialConfig(AdversarialConfig):
    weights: ReconWeights = field(default_factory=ReconWeights)


def test_reconstruction_only_skips_the_critic():
    def recon(fake, z, real):
        return {"loss/recon": (fake - real).abs().mean()}
    tr = make(ReconAdversarialConfig(weights={"loss/adv": 0.0}), generator_terms=recon)
    critic_before = snapshot(tr.critic)
    stats = tr.train_iteration(batches())
    assert "loss/critic" not in stats and "loss/adv" not in stats and "loss/recon" in stats
    for a, b in zip(critic_before, snapshot(tr.critic)):
        assert torch.equal(a, b)


def test_l2_penalty_spares_blocks_not_grown_in():
    """A growing critic's inactive blocks get no L2 decay (it would zero them; spectral norm then NaNs)."""
    class GrowCritic(nn.Module):
        def __init__(self):
            super().__init__()
            self.inp = nn.Linear(2, 8)
            self.stack = GrowingResidualStack([nn.Sequential(nn.Linear(8, 8), nn.Tanh()) for _ in range(2)])
            self.head = nn.Linear(8, 1)

        def forward(self, x, depth=None, alpha=1.0, fade_blocks=1):
            return self.head(self.stack(self.inp(x), depth, alpha, fade_blocks)).squeeze(1)

    torch.manual_seed(0)
    g, d = Gen(), GrowCritic()
    tr = AdversarialTrainer(g, d, make_optimizer(g.parameters(), OptimizerConfig(lr=1e-2)),
                            make_optimizer(d.parameters(), OptimizerConfig(lr=1e-2)),
                            AdversarialConfig(weights={"loss/l2": 1.0}),
                            critic_growth=GrowthSchedule(start_depth=1, max_depth=2, stable_steps=100))
    sleeping = d.stack.blocks[1][0].weight.detach().clone()
    used = [p for n, p in d.named_parameters() if not n.startswith("stack.blocks.1") and p.dim() >= 2]
    expected = float(sum((p.detach() ** 2).sum() for p in used))  # before the step changes them
    stats = tr.critic_step(*next(batches()))
    assert torch.equal(d.stack.blocks[1][0].weight, sleeping)
    assert stats["loss/l2"] == pytest.approx(expected, rel=1e-5)


def test_lazy_gradient_penalty_every_k_iterations_with_k_times_the_weight():
    lazy = make(AdversarialConfig(weights={"loss/gp": 10.0}, gp_every=3))
    eager = make(AdversarialConfig(weights={"loss/gp": 30.0}))
    z, real = next(batches())
    torch.manual_seed(1)
    s_lazy = lazy.critic_step(z, real)
    torch.manual_seed(1)  # the same interpolation points
    s_eager = eager.critic_step(z, real)
    assert s_lazy["loss/gp"] == pytest.approx(s_eager["loss/gp"])
    for a, b in zip(snapshot(lazy.critic), snapshot(eager.critic)):  # same update as weight 30
        torch.testing.assert_close(a, b)
    seen = []
    it = batches(1)
    for _ in range(6):
        seen.append("loss/gp" in lazy.train_iteration(it))
    assert seen == [True, False, False, True, False, False]
    with pytest.raises(ValueError, match="gp_every"):
        AdversarialConfig(gp_every=0)


def test_label_targets_are_checked():
    AdversarialConfig(loss="nonsaturating", real_target=0.9, fake_target=0.1)
    for real, fake in ((0.9, 0.9), (0.9, -0.1), (1.0, 1.0)):
        with pytest.raises(ValueError, match="fake_target"):
            AdversarialConfig(loss="nonsaturating", real_target=real, fake_target=fake)


def test_instance_noise_anneals_linearly_to_zero():
    tr = make(AdversarialConfig(instance_noise=0.5, instance_noise_steps=4))
    stds = []
    for step in range(6):
        tr.step = step
        stds.append(tr.noise_std())
    assert stds == pytest.approx([0.5, 0.375, 0.25, 0.125, 0.0, 0.0])
    assert make(AdversarialConfig(instance_noise=0.3)).noise_std() == 0.3  # steps 0: constant
    with pytest.raises(ValueError, match="instance_noise"):
        AdversarialConfig(instance_noise=-1.0)


class Recording(nn.Module):
    """A linear critic that keeps every input it scores."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 1)
        self.seen = []

    def forward(self, x, **_):
        self.seen.append(x.detach().clone())
        return self.lin(x).squeeze(1)


def test_instance_noise_reaches_every_critic_input_with_its_std():
    torch.manual_seed(0)
    g, d = Gen(), Recording()
    cfg = AdversarialConfig(loss="wasserstein", instance_noise=0.2, instance_noise_steps=10)
    tr = AdversarialTrainer(g, d, torch.optim.SGD(g.parameters(), lr=0.0),
                            torch.optim.SGD(d.parameters(), lr=0.0), cfg)
    z, real = torch.randn(20_000, 2), torch.randn(20_000, 2)
    tr.critic_step(z, real)
    real_seen, fake_seen = d.seen
    with torch.no_grad():
        fake = g(z)
    assert (real_seen - real).std().item() == pytest.approx(0.2, rel=0.02)
    assert (fake_seen - fake).std().item() == pytest.approx(0.2, rel=0.02)
    d.seen.clear()
    tr.generator_step(z, real)
    assert (d.seen[0] - fake).std().item() == pytest.approx(0.2, rel=0.02)
    tr.step = 10  # annealed away: the critic sees the clean batches
    d.seen.clear()
    tr.critic_step(z, real)
    assert torch.equal(d.seen[0], real) and torch.allclose(d.seen[1], fake)


def test_instance_noise_leaves_a_linear_critics_generator_gradient_unchanged():
    # For f(x) = w.x + b the noise only adds w.n to the loss, a constant: the generator's gradient
    # (so its Adam update) is the same as without noise.
    updated = []
    for sigma in (0.0, 0.7):
        torch.manual_seed(0)
        g, d = Gen(), Recording()
        tr = AdversarialTrainer(g, d, make_optimizer(g.parameters(), OptimizerConfig(lr=1e-2)),
                                make_optimizer(d.parameters(), OptimizerConfig(lr=1e-2)),
                                AdversarialConfig(loss="wasserstein", instance_noise=sigma))
        z, real = next(batches())
        tr.generator_step(z, real)
        updated.append(snapshot(g))
    for a, b in zip(*updated):
        torch.testing.assert_close(a, b)


def test_top_k_generator_loss_reaches_only_the_best_scored_fakes():
    # Fake j is column j of W (one-hot z), the critic f(x) = w.x + b is linear: the Wasserstein generator
    # loss -mean_{top k} f(fake_j) has gradient -w / k on the k columns that score highest and 0 elsewhere.
    n, k = 8, 3
    torch.manual_seed(0)
    g = nn.Linear(n, 2, bias=False)
    d = Recording()
    tr = AdversarialTrainer(g, d, torch.optim.SGD(g.parameters(), lr=0.0), torch.optim.SGD(d.parameters(), lr=0.0),
                            AdversarialConfig(loss="wasserstein", top_k=k / n))
    with torch.no_grad():
        scores = d.lin.weight[0] @ g.weight  # (n,) without the bias, same order
    best = set(scores.argsort(descending=True)[:k].tolist())
    tr.generator_step(torch.eye(n), torch.zeros(n, 2))
    w = d.lin.weight[0].detach()
    for j in range(n):
        expected = -w / k if j in best else torch.zeros(2)
        torch.testing.assert_close(g.weight.grad[:, j], expected)


def test_top_k_fraction_anneals_from_one():
    tr = make(AdversarialConfig(top_k=0.5, top_k_steps=4))
    fractions = []
    for step in (0, 2, 4, 8):
        tr.step = step
        fractions.append(tr.top_k_fraction())
    assert fractions == pytest.approx([1.0, 0.75, 0.5, 0.5])
    with pytest.raises(ValueError, match="top_k"):
        AdversarialConfig(top_k=0.0)


@pytest.mark.parametrize("cfg", [
    AdversarialConfig(loss="nonsaturating", weights={"loss/r1": 1.0, "loss/fm": 1.0}, ema_decay=0.9),
    AdversarialConfig(loss="wasserstein", weights={"loss/gp": 10.0}, fargan_count=1),
])
def test_reuse_fakes_is_the_plain_update_with_both_steps_on_one_batch(cfg):
    """With ``reuse_fakes`` an iteration draws one batch and runs the generator once; its result equals
    the plain iteration given that batch for both steps (the generator is unchanged between them)."""
    data = list(itertools.islice(batches(), 4))
    reuse = make(replace(cfg, reuse_fakes=True))
    calls = []
    reuse.generator.register_forward_hook(lambda *_: calls.append(1))
    plain = make(cfg)
    for i, batch in enumerate(data):
        torch.manual_seed(i)  # the same interpolation draws for the gradient penalty
        reuse.train_iteration(iter([batch]))
        torch.manual_seed(i)
        plain.train_iteration(iter([batch, batch]))
    assert len(calls) == len(data)
    for (k, va), vb in zip(reuse.model_state().items(), plain.model_state().values()):
        for n in va:
            torch.testing.assert_close(va[n], vb[n], rtol=1e-5, atol=1e-6, msg=f"{k}.{n}")
    with pytest.raises(ValueError, match="reuse_fakes"):
        AdversarialConfig(reuse_fakes=True, n_critic=2)
