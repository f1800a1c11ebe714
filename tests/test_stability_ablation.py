"""The stability ablation: its recipes, its deep networks, its table (verdicts computed from the runs'
events) and its resume; and the diagnostics of a real 2-D run through ``audiogan diagnose``."""

import json

import pytest
import torch
from typer.testing import CliRunner

from audiogan import stability
from audiogan.cli import app
from audiogan.config import ConfigError
from audiogan.gan.diagnostics import EVENTS_NAME, TRACE_NAME
from audiogan.runs import run_dir
from audiogan.stability_deep import DeepCritic, PlainCritic, train_deep


def test_every_pair_has_its_recipes_and_every_recipe_a_pair():
    files = {p.stem for p in stability.recipe_dir().glob("*.yaml")}
    assert files == set(stability.recipe_pairs())
    assert len(stability.PAIRS) == 6
    for name in files:
        recipe = stability.load_recipe(name)
        assert recipe.description and recipe.diagnostics == stability.load_recipe("e-minimax-ring").diagnostics
    for pair in stability.PAIRS:  # a remedy changes the method, never the problem
        failure = stability.load_recipe(pair.failure)
        for remedy in pair.remedies:
            r = stability.load_recipe(remedy)
            assert (r.iterations, r.batch_size, type(r)) == (failure.iterations, failure.batch_size, type(failure))


def test_unknown_failure_is_one_line(tmp_path):
    with pytest.raises(ConfigError, match="unknown failure 'nope'"):
        stability.check_names(["nope"])
    result = CliRunner().invoke(app, ["ablate-stability", "--out", str(tmp_path), "--failures", "nope"])
    assert result.exit_code == 2 and "unknown failure 'nope'" in result.output


def test_plain_critic_grows_from_the_identity():
    torch.manual_seed(0)
    d = PlainCritic(8, 4)
    x = torch.randn(5, 2)
    h0 = d.inp(x)
    h2 = d.layers[1](d.layers[0](h0))
    score, features = d(x, depth=2)
    torch.testing.assert_close(score, d.head(h2).squeeze(1))
    torch.testing.assert_close(features[0], h2)
    # Layer 2 fading in at alpha 0.25 (one fading block): 0.75 * h2 + 0.25 * layer(h2).
    torch.testing.assert_close(d(x, depth=3, alpha=0.25)[0], d.head(0.75 * h2 + 0.25 * d.layers[2](h2)).squeeze(1))
    torch.testing.assert_close(d(x)[0], d(x, depth=4)[0])
    d(x, depth=2)[0].sum().backward()
    assert d.layers[1][0].weight.grad is not None and d.layers[2][0].weight.grad is None  # not run, not trained
    names = [n for n, _ in d.named_parameters()]
    assert names[:2] == ["inp.0.weight", "inp.0.bias"] and names[-2:] == ["head.weight", "head.bias"]


def test_full_depth_plain_critic_is_flat_in_its_input():
    """64 plain layers: the input's share of the activations halves per layer against the biases', so the
    score no longer depends on the input and the first layer's gradient is a vanishing fraction of the
    last one's; 4 layers (where growth starts) still see it."""
    torch.manual_seed(0)
    d = PlainCritic(32, 64)
    x = torch.randn(64, 2, requires_grad=True)
    score, _ = d(x)
    score.sum().backward()
    deep_ratio = d.inp[0].weight.grad.norm() / d.head.weight.grad.norm()
    assert score.std() < 1e-5 * score.abs().mean() and x.grad.norm() < 1e-4 and deep_ratio < 1e-4
    x.grad = None
    score, _ = d(x, depth=4)
    score.sum().backward()
    assert score.std() > 1e-3 and x.grad.norm() > 1e-2


@pytest.mark.parametrize("norm", ["none", "spectral"])
def test_deep_critic_scores_and_features(norm):
    torch.manual_seed(0)
    d = DeepCritic(8, 6, norm)
    score, features = d(torch.randn(4, 2))
    assert score.shape == (4,) and len(features) == 6 and features[0].shape == (4, 8)


def _fake_metrics(out, name, seed, events, modes=8):
    folder = run_dir(out, name, seed)
    folder.mkdir(parents=True)
    m = {"recipe": name, "seed": seed, "events": events, "wall_s": 1.0, "modes": modes, "hq": 0.5}
    (folder / "metrics.json").write_text(json.dumps(m))


def test_table_says_which_pairs_reproduce(tmp_path):
    pair = next(p for p in stability.PAIRS if p.failure == "e-minimax-ring")
    for s in (1, 2):
        _fake_metrics(tmp_path, pair.failure, s, {"mode_collapse": 1000 + s, "oscillation": 5} if s == 1 else {})
        for remedy in pair.remedies:
            _fake_metrics(tmp_path, remedy, s, {"mode_collapse": 1200} if remedy == "e-unrolled" else {})
    table = stability.summarize(tmp_path, [pair], 2)
    v = table["verdicts"]
    assert v["e-minimax-ring -> e-minibatch"] == {"reproduces": False, "fired": 1, "silent": 2}
    assert v["e-minimax-ring -> e-unrolled"] == {"reproduces": False, "fired": 1, "silent": 0}
    assert not v["e-minimax-ring"]["reproduces"] and table["reproduced"] == 0
    text = stability.format_table(table)
    assert "| e-minimax-ring -> e-minibatch | mode collapse | 1 | fired at 1001 | 8 modes, 50.0% HQ | silent |" in text
    assert "oscillation 5 / -" in text and "**silent**" in text and "**fired at 1200**" in text
    assert "does not reproduce: fired in 1/2 failure runs, silent in 0/2 remedy runs" in text


def test_ablation_trains_what_is_missing_and_resumes(tmp_path, monkeypatch, inline_executor):
    trained = []

    def fake_run(_, recipe, seed, out):
        trained.append((recipe, seed))
        pair = stability.recipe_pairs()[recipe]
        fired = {pair.kinds[0]: 100} if recipe == pair.failure else {}
        _fake_metrics(tmp_path, recipe, seed, fired)
        (run_dir(tmp_path, recipe, seed) / "config.yaml").write_text(
            __import__("audiogan.config", fromlist=["dump_yaml"]).dump_yaml(stability.load_recipe(recipe)))
        return {"recipe": recipe}

    monkeypatch.setattr("audiogan.runs.ProcessPoolExecutor", inline_executor)
    monkeypatch.setattr(stability, "_run", fake_run)
    table = stability.ablate_stability(tmp_path, seeds=1, pairs=["b-clip-bad-constant", "e-minimax-ring"])
    assert sorted(trained) == sorted((n, 1) for n in ("b-clip-bad-constant", "b-gradient-penalty", "e-minimax-ring",
                                                      "e-minibatch", "e-unrolled", "e-diversity"))
    assert table["reproduced"] == 2 and table["runs_trained"] == 6
    assert (tmp_path / "table.md").read_text().startswith("Stability ablation: 2 of 2 failures reproduce")
    assert json.loads((tmp_path / "table.json").read_text())["recipes"]["reproduced"] == 2
    trained.clear()
    stability.ablate_stability(tmp_path, seeds=1, pairs=["b-clip-bad-constant"])  # finished: nothing to train
    assert trained == []


def test_a_deep_run_writes_its_diagnostics_and_diagnose_reports_them(tmp_path):
    """The 64-layer plain critic at full depth (narrower, smaller generator and fewer iterations for speed):
    the deep plateau is there from the first samples; diagnose prints it and draws the four plots."""
    recipe = tmp_path / "deep.yaml"
    text = (stability.recipe_dir() / "d-deep-critic.yaml").read_text()
    for old, new in (("iterations: 2400", "iterations: 50"), ("generator_hidden: 64", "generator_hidden: 16"),
                     ("critic_width: 32", "critic_width: 16"), ("batch_size: 64", "batch_size: 16")):
        assert old in text
        text = text.replace(old, new)
    recipe.write_text(text)
    metrics = train_deep("ring", recipe, 1, tmp_path / "run")
    assert metrics["events"].get("deep_plateau") == 50  # the first sample with `patience` samples behind it
    assert (tmp_path / "run" / TRACE_NAME).exists() and (tmp_path / "run" / EVENTS_NAME).exists()
    result = CliRunner().invoke(app, ["diagnose", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    assert "deep plateau: 1 event(s), first: deep plateau at step 50 (|grad D| first/last layers" in result.output
    for name in ("losses.png", "score_gap.png", "grad_heatmap.png", "diversity.png"):
        assert (tmp_path / "run" / "plots" / name).stat().st_size > 1000


def test_diagnose_a_folder_without_diagnostics_is_one_line(tmp_path):
    result = CliRunner().invoke(app, ["diagnose", str(tmp_path)])
    assert result.exit_code == 2 and "no diagnostics_trace.jsonl" in result.output
