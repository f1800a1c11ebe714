"""The diagnostics inside real training: watching changes nothing that training computes, measures what an
independent computation gives, and an audio run stopped and resumed writes the same diagnostics as one that
ran straight through, also when it was saved before diagnostics existed."""

import json

import numpy as np
import pytest
import torch
import yaml
from torch import nn

from audiogan.audio.train import train
from audiogan.config import ConfigError, dump_yaml
from audiogan.gan import (AdversarialConfig, AdversarialTrainer, DiagnosticsConfig, Monitor, OptimizerConfig,
                          apply_spectral_norm, make_optimizer)
from audiogan.gan.diagnostics import EVENTS_NAME, TRACE_NAME, weight_norm

from .test_audio_train import tiny


def pair():
    torch.manual_seed(0)
    g = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 2))
    d = apply_spectral_norm(nn.Sequential(nn.Linear(2, 16), nn.LeakyReLU(0.2), nn.Linear(16, 1), nn.Flatten(0)))
    cfg = AdversarialConfig(loss="wasserstein", weights={"loss/gp": 1.0}, fargan_count=1)
    return AdversarialTrainer(g, d, make_optimizer(g.parameters(), OptimizerConfig(lr=1e-3)),
                              make_optimizer(d.parameters(), OptimizerConfig(lr=1e-3)), cfg)


def batches():
    gen = torch.Generator().manual_seed(1)
    while True:
        yield torch.randn(8, 2, generator=gen), torch.randn(8, 2, generator=gen) + 2


def test_watching_every_step_changes_nothing_training_computes():
    plain, watched = pair(), pair()
    monitor = Monitor(DiagnosticsConfig(every=1), watched.config)
    a, b = batches(), batches()
    torch.manual_seed(3)
    stats_a = [plain.train_iteration(a) for _ in range(6)]
    torch.manual_seed(3)
    stats_b = []
    for _ in range(6):
        stats_b.append(watched.train_iteration(b))
        monitor.after_iteration(watched, stats_b[-1])
    assert stats_a == stats_b and len(monitor.history) == 6
    for m_a, m_b in ((plain.generator, watched.generator), (plain.critic, watched.critic)):
        for (name, t_a), t_b in zip(m_a.state_dict().items(), m_b.state_dict().values()):
            assert torch.equal(t_a, t_b), name  # spectral norm's u and v included: no parametrisation ran


def test_a_sample_measures_norms_and_diversity_of_the_last_batch():
    tr = pair()
    stats = tr.train_iteration(batches())
    sample = Monitor(DiagnosticsConfig(diversity_samples=5), tr.config).measure(tr, stats)
    fake, real = (x[:5].numpy() for x in tr.last_batch)
    dist = lambda x: np.mean([np.linalg.norm(x[i] - x[j]) for i in range(5) for j in range(i + 1, 5)])  # noqa: E731
    assert sample["diversity/fake"] == pytest.approx(dist(fake), rel=1e-5)
    assert sample["diversity/ratio"] == pytest.approx(dist(fake) / dist(real), rel=1e-5)
    stored = [p.detach().numpy().ravel() for p in tr.critic.parameters()]  # spectral norm's ``original`` weights
    assert sample["weights/critic"] == pytest.approx(np.linalg.norm(np.concatenate(stored)), rel=1e-5)
    assert weight_norm(tr.critic) == sample["weights/critic"]
    assert {"grad/generator/0", "grad/generator/2", "grad/critic/0", "grad/critic/2"} <= sample.keys()
    assert sample["step"] == 1 and sample["loss/critic"] == stats["loss/critic"]


@pytest.mark.slow  # three tiny audio trainings: a minute on a loaded 2-core machine
def test_audio_run_resumed_writes_the_diagnostics_of_a_straight_run(tmp_path):
    cfg = tiny().model_copy(update={"diagnostics": DiagnosticsConfig(every=1, patience=2, exploding_grad=1e-3)})
    train(cfg, tmp_path / "straight")
    train(cfg, tmp_path / "split", stop_after=3)  # checkpoint at 2; the trace went on to 3
    train(cfg, tmp_path / "split", resume=True)
    for name in (TRACE_NAME, EVENTS_NAME):
        assert (tmp_path / "straight" / name).read_text() == (tmp_path / "split" / name).read_text(), name
    rows = [json.loads(line) for line in (tmp_path / "straight" / TRACE_NAME).read_text().splitlines()]
    assert [r["step"] for r in rows] == list(range(1, 7)) and all("diversity/ratio" in r for r in rows)
    events = [json.loads(line) for line in (tmp_path / "straight" / EVENTS_NAME).read_text().splitlines()]
    assert [e["kind"] for e in events] == ["exploding_gradient"]  # the deliberately tiny limit, once


def test_a_run_saved_before_diagnostics_resumes_and_may_change_thresholds(tmp_path):
    cfg = tiny()
    train(cfg, tmp_path / "run", stop_after=2)
    saved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    del saved["diagnostics"]  # as runs/v2 saved it
    (tmp_path / "run" / "config.yaml").write_text(yaml.safe_dump(saved))
    (tmp_path / "run" / TRACE_NAME).unlink(missing_ok=True)
    changed = cfg.model_copy(update={"diagnostics": DiagnosticsConfig(every=1, collapse_ratio=0.2)})
    train(changed, tmp_path / "run", resume=True, stop_after=4)  # detectors start afresh at step 2
    assert [json.loads(r)["step"] for r in (tmp_path / "run" / TRACE_NAME).read_text().splitlines()] == [3, 4]
    with pytest.raises(ConfigError, match="seed: 3 -> 4"):
        train(changed.model_copy(update={"seed": 4}), tmp_path / "run", resume=True)
    assert "diagnostics" in yaml.safe_load(dump_yaml(cfg))
