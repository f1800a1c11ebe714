"""Warm starts report every tensor; a run on a segment cache selects its best step on the validation split."""

import json

import pytest
import torch

from audiogan.audio.data.cache import build_cache
from audiogan.audio.data.dataset import DataConfig
from audiogan.audio.degrade.registry import DegradeConfig
from audiogan.audio.models import SpectralGainConfig, SpectralPhaseConfig, make_generator
from audiogan.audio.train import AudioTrainConfig, train
from audiogan.audio.warm_start import warm_start
from audiogan.checkpoint import save_weights
from audiogan.config import parse_config
from audiogan.errors import ConfigError

SR = 16000


def test_warm_start_loads_matching_tensors_and_names_the_rest(tmp_path):
    source = make_generator(SpectralGainConfig(n_fft=64, channels=8, blocks=3))
    (tmp_path / "m").mkdir()
    save_weights(tmp_path / "m" / "model.safetensors", source.state_dict())
    target = make_generator(SpectralPhaseConfig(n_fft=64, hop=16, channels=8, blocks=4))
    report = warm_start(tmp_path / "m", {"generator": target})
    loaded, skipped = report.loaded["generator"], report.skipped["generator"]
    # The body of the first three blocks matches by name and shape; the new input, heads and block 3 do not.
    assert "body.blocks.0.1.weight" in loaded and "body.blocks.2.3.bias" in loaded
    assert torch.equal(target.state_dict()["body.blocks.1.1.weight"], source.state_dict()["body.blocks.1.1.weight"])
    assert any(s.startswith("to_body.weight: shape") for s in skipped)
    assert any(s.startswith("body.blocks.3.1.weight: not in") for s in skipped)
    assert any(s.startswith("to_gain.weight: in m only") for s in skipped)
    assert report.lines()[0].startswith(f"generator: {len(loaded)} tensors loaded")
    with pytest.raises(ConfigError, match="no such"):
        warm_start(tmp_path / "missing", {"generator": target})


def test_warm_start_takes_a_shipped_model_by_name(tmp_path, monkeypatch):
    """``--init NAME`` finds ``models/NAME`` as ``enhance --model NAME`` does (a folder of that name here wins)."""
    from audiogan.audio.enhance.enhancer import EnhancerConfig
    from audiogan.config import load_config
    from audiogan.resources import models_dir

    monkeypatch.chdir(tmp_path)
    config = load_config(models_dir() / "audiogan-base" / "config.yaml", EnhancerConfig)
    target = make_generator(config.generator)
    report = warm_start("audiogan-base", {"generator": target})
    assert report.source == str(models_dir() / "audiogan-base")
    assert report.loaded["generator"] and not report.skipped["generator"]


def _cfg(cache, **over):
    return parse_config({
        "steps": 4, "seed": 1,
        "data": {"mode": "cached", "cache": str(cache), "batch_size": 2},
        "generator": {"kind": "spectral_phase", "n_fft": 64, "hop": 16, "channels": 8, "blocks": 2},
        "critic": {"stft_sizes": [128], "waveform_scales": 0, "periods": [2, 3], "channels": 4, "blocks": 1},
        "recon": {"fft_sizes": [128], "phase_fft_sizes": [128]},
        "adversarial": {"weights": {"loss/complex": 1.0, "loss/phase": 0.1, "loss/wave": 1.0}},
        "log_every": 1, "sample_every": 4, "checkpoint_every": 2, "validation_segments": 4, **over,
    }, AudioTrainConfig)


def test_phase_recipe_trains_on_a_cache_with_validation_and_warm_starts(tmp_path):
    data = DataConfig(mode="synthetic", synthetic_utterances=2, segment_seconds=0.5, batch_size=2,
                      degrade=DegradeConfig(names=["noise", "hum", "clicks"]))
    build_cache(data, SR, 0, tmp_path / "cache", segments=12, validation=4, shard_size=8)
    stats = train(_cfg(tmp_path / "cache"), tmp_path / "run")
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert {"loss/complex", "loss/phase", "loss/wave", "loss/adv"} <= stats.keys()
    valid = [r for r in rows if "valid/recon" in r]
    assert [r["step"] for r in valid] == [2, 4]
    assert "valid/pesq" in valid[0] and 1.0 <= valid[0]["valid/pesq"] <= 4.7
    assert 1.0 <= valid[0]["valid/pesq_clean"] <= 4.65  # the output on the clean targets as input
    assert 1.0 <= valid[0]["valid/dnsmos"] <= 5.0 and 1.0 <= valid[0]["valid/dnsmos_input"] <= 5.0
    best = json.loads((tmp_path / "run" / "best.json").read_text())
    assert best["step"] in (2, 4) and (tmp_path / "run" / "best" / "generator_ema.safetensors").exists()
    trained = [r for r in rows if "data/hours_seen" in r]
    assert trained[-1]["data/hours_seen"] == pytest.approx(4 * 2 * 0.5 / 3600, rel=1e-3)  # the generator's batches
    # The best step exports as a model whose card says what training saw and how the step was selected.
    from audiogan.audio.enhance.enhancer import Enhancer
    from audiogan.audio.export import export_model

    card = (export_model(tmp_path / "run", tmp_path / "model", best=True) / "README.md").read_text()
    assert f"Selected: step {best['step']} of 4" in card and "validation PESQ" in card
    assert "Seen: 0.0 hours of audio (the generator's batches) in" in card and "hours of wall time" in card
    assert "magnitude mask" in card and "period sub-critics [2, 3]" in card and "segment cache" in card
    assert "`loss/recon` at the last logged step:" in card  # the last row holds validation scores only
    assert Enhancer.from_pretrained(tmp_path / "model").config.generator.kind == "spectral_phase"
    # A new run warm-started from the first one: every tensor carries over, and the run says so.
    train(_cfg(tmp_path / "cache", steps=1, validation_segments=0), tmp_path / "warm", init=tmp_path / "run")
    text = (tmp_path / "warm" / "warm_start.txt").read_text()
    assert "generator: " in text and ", 0 not" in text and "critic: " in text
    # The exported model carries the trained critics, so a warm start from the model folder loads them too.
    assert (tmp_path / "model" / "critic.safetensors").is_file()
    train(_cfg(tmp_path / "cache", steps=1, validation_segments=0), tmp_path / "warm-m", init=tmp_path / "model")
    lines = (tmp_path / "warm-m" / "warm_start.txt").read_text().splitlines()
    assert [line.split(" tensors")[0] for line in lines if line.startswith("critic:")][0] != "critic: 0"
    assert all(", 0 not" in line for line in lines if line.startswith(("critic:", "generator:")))
    # It counts the audio its source had seen (at the source's latest checkpoint, step 4) in its own log,
    # its model's card and the model's training.json, which a warm start from that model reads in turn.
    from audiogan.audio.warm_start import seen_before

    hour = 2 * 0.5 / 3600  # one iteration's batch
    recorded = json.loads((tmp_path / "warm" / "warm_start.json").read_text())["hours_seen"]
    assert recorded == pytest.approx(4 * hour, rel=1e-3)
    warm_rows = [json.loads(line) for line in (tmp_path / "warm" / "metrics.jsonl").read_text().splitlines()]
    assert warm_rows[-1]["data/hours_seen"] == pytest.approx(5 * hour, rel=1e-3)
    model = export_model(tmp_path / "warm", tmp_path / "warm-model")
    assert "of those hours were seen before this run, by" in (model / "README.md").read_text()
    assert "(its warm start) in 4 iterations, " in (model / "README.md").read_text()
    assert seen_before(model)["hours_seen"] == pytest.approx(5 * hour, rel=1e-3)
    assert seen_before(model)["iterations"] == 1
    assert seen_before(tmp_path / "run" / "best")["hours_seen"] == pytest.approx(best["step"] * hour, rel=1e-3)
    at_2 = seen_before(tmp_path / "run" / "checkpoints" / "step_00000002")
    assert at_2["hours_seen"] == pytest.approx(2 * hour, rel=1e-3) and at_2["iterations"] == 2 and at_2["wall_h"] > 0
    assert json.loads((model / "training.json").read_text())["warm_start"]["iterations"] == 4


def test_selection_weighs_damaged_and_clean_inputs_as_training_mixes_them():
    from audiogan.audio.validation import selection_score

    stats = {"valid/recon": 0.2, "valid/pesq": 2.0, "valid/pesq_clean": 4.0}
    assert selection_score(stats) == 2.0
    assert selection_score(stats, 0.25) == pytest.approx(0.75 * 2.0 + 0.25 * 4.0)
    assert selection_score({"valid/recon": 0.2}, 0.25) == -0.2


def test_loss_curves_plot_names_logged_in_some_rows_only(tmp_path, monkeypatch):
    """Validation scores are logged at checkpoints only: they still get a panel, with their own points."""
    import audiogan.plotting as plotting

    rows = [{"step": s, "loss/recon": 0.1 / s} for s in range(1, 9)] + [{"step": 4, "valid/pesq": 1.5},
                                                                         {"step": 8, "valid/pesq": 1.7}]
    path = tmp_path / "metrics.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    made = {}
    real = plotting.new_figure

    def spy(*args, **kwargs):
        made["fig"], made["axes"] = real(*args, **kwargs)
        return made["fig"], made["axes"]

    monkeypatch.setattr(plotting, "new_figure", spy)
    plotting.loss_curves(path, tmp_path / "curves.png")
    panels = {ax.get_title(): ax for ax in made["axes"].flat if ax.get_title()}
    assert set(panels) == {"loss/recon", "valid/pesq"}
    assert list(panels["valid/pesq"].lines[0].get_xdata()) == [4, 8]
    assert (tmp_path / "curves.png").stat().st_size > 0


def test_card_says_when_the_early_sessions_were_not_timed(tmp_path):
    """A run that began before wall time was checkpointed: the card gives the timed share and says so."""
    from audiogan.audio.export import _seen

    run = tmp_path / "run"
    run.mkdir()
    rows = [{"step": 25, "data/hours_seen": 0.5}, {"step": 50, "data/hours_seen": 1.0, "time/wall_h": 0.25},
            {"step": 75, "data/hours_seen": 1.5, "time/wall_h": 0.5}]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = AudioTrainConfig()
    assert "1.5 hours of audio (the generator's batches) in 75 iterations, 0.5 hours of wall time (timed from " \
           "step 50 on: the sessions before were not)." in _seen(run, 75, cfg, best=False)
    (run / "metrics.jsonl").write_text("".join(json.dumps({**r, "time/wall_h": 0.1}) + "\n" for r in rows))
    assert _seen(run, 75, cfg, best=False).endswith("0.1 hours of wall time.")


def test_validation_sisdr_against_a_direct_computation():
    """valid/sisdr_input is the mean SI-SDR of the damaged segments; a generator that halves its input keeps
    it (scale-invariant), and one that adds a known error at -20 dB caps a cleaner input near 20 dB."""
    import numpy as np

    from audiogan.audio.validation import validate

    g = torch.Generator().manual_seed(0)
    clean = [torch.randn(1, 4000, generator=g) * 0.1 for _ in range(3)]
    degraded = [c + 0.01 * torch.randn(1, 4000, generator=g) for c in clean]  # about 20 dB
    segments = list(zip(degraded, clean))

    def direct(est, ref):  # SI-SDR from its definition, zero-mean signals
        est, ref = est - est.mean(), ref - ref.mean()
        target = ref * (est @ ref) / (ref @ ref)
        return 10 * np.log10((target @ target) / ((est - target) @ (est - target)))

    expected = np.mean([direct(d[0].double().numpy(), c[0].double().numpy()) for d, c in segments])
    args = dict(kwargs={}, device=torch.device("cpu"), sample_rate=16000, tau=0.1, fft_sizes=[256], log_floor=1e-3)
    half = validate(lambda x: 0.5 * x, segments, **args)
    assert half["valid/sisdr_input"] == pytest.approx(expected, abs=1e-3)
    assert half["valid/sisdr"] == pytest.approx(expected, abs=1e-3)
    error = torch.randn(1, 1, 4000, generator=g) * 0.01  # -20 dB against each clean segment, added to any input
    capped = validate(lambda x: x + error, [(c, c) for c in clean], **args)
    assert capped["valid/sisdr_input"] > 60 and 18 < capped["valid/sisdr"] < 22
