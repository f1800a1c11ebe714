"""The metric critic (MetricGAN+): its network, its learner's deterministic schedule, and exact resume."""

import json

import numpy as np
import pytest
import torch
from torch.nn.utils import parametrize

from audiogan.audio.metric import MetricLearner, _pesq_batch
from audiogan.audio.models.metric_critic import MetricCritic, MetricCriticConfig, normalised_pesq
from audiogan.audio.train import AudioTrainConfig, train
from audiogan.config import ConfigError, parse_config

pytest.importorskip("pesq", reason="needs the eval extra (pip install 'audiogan[eval]'): pesq")
SR = 16000


def test_network_shapes_range_and_spectral_norm():
    critic = MetricCritic(MetricCriticConfig(channels=4))
    y = critic(torch.randn(3, 1, 8000), torch.randn(3, 1, 8000))
    assert y.shape == (3,) and bool(((y > 0) & (y < 1)).all())
    layers = [m for m in critic.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    assert layers and all(parametrize.is_parametrized(m, "weight") for m in layers)
    assert [normalised_pesq(s) for s in (0.5, 1.0, 4.5, 5.0)] == [0.0, 0.0, 1.0, 1.0]


def test_pesq_batch_scores_clean_above_noisy(speech):
    t = np.stack([speech[:8000], speech[4000:12000]])
    noisy = t + 0.05 * np.random.default_rng(0).standard_normal(t.shape)
    scores = _pesq_batch(t, noisy, t, SR)
    assert scores.shape == (2, 2) and (scores[0] > scores[1]).all() and (scores[0] > 0.9).all()


def test_learner_trains_on_the_previous_batch_and_drains(speech):
    torch.manual_seed(0)
    learner = MetricLearner(MetricCriticConfig(channels=4), SR, 1e-3, torch.device("cpu"))
    clean = torch.from_numpy(np.stack([speech[:8000], speech[8000:16000]]))[:, None]
    fake = (clean + 0.05 * torch.randn_like(clean)).requires_grad_()
    term = learner.generator_term(fake, fake.detach(), clean)
    term.backward()
    assert fake.grad is not None and all(p.grad is None for p in learner.critic.parameters())  # critic frozen
    assert learner.after_iteration() == {}  # the first batch is only handed to the pool
    before = [p.detach().clone() for p in learner.critic.parameters()]
    stats = learner.drain()  # waits for its scores and trains on them
    assert {"metric/critic_loss", "metric/pesq", "metric/predicted"} <= stats.keys()
    assert any(not torch.equal(a, b) for a, b in zip(before, learner.critic.parameters()))
    assert learner.drain() == {}
    learner.close()


def _cfg(**over):
    return parse_config({
        "steps": 4, "seed": 2,
        "data": {"mode": "synthetic", "synthetic_utterances": 2, "segment_seconds": 0.5, "batch_size": 2,
                 "degrade": {"names": ["noise", "quantize"]}},
        "generator": {"kind": "spectral_phase", "n_fft": 64, "hop": 16, "channels": 8, "blocks": 2},
        "critic": {"stft_sizes": [128], "waveform_scales": 1, "channels": 4, "blocks": 1},
        "recon": {"fft_sizes": [128]},
        "adversarial": {"weights": {"loss/metric": 1.0}},
        "metric": {"channels": 4},
        "log_every": 1, "sample_every": 4, "checkpoint_every": 2, **over,
    }, AudioTrainConfig)


def test_a_run_with_the_metric_critic_resumes_exactly(tmp_path):
    train(_cfg(), tmp_path / "straight")
    train(_cfg(), tmp_path / "split", stop_after=2)
    train(_cfg(), tmp_path / "split", resume=True)
    rows = lambda run: [{k: v for k, v in json.loads(line).items() if not k.startswith("time/")}  # noqa: E731
                        for line in (tmp_path / run / "metrics.jsonl").read_text().splitlines()]
    a, b = rows("straight"), rows("split")
    assert a == b and "loss/metric" in a[-1] and any("metric/critic_loss" in r for r in a)


def test_metric_weight_needs_a_metric_block():
    with pytest.raises(ConfigError, match="needs a metric block"):
        parse_config({"adversarial": {"weights": {"loss/metric": 1.0}}}, AudioTrainConfig)
