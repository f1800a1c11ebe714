import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import audiogan.runs as runs
from audiogan.cli import app
from audiogan.toy.ablate import ablate
from audiogan.toy.train import load_recipe, recipe_names, train_toy

EXPECTED = {"vanilla", "nonsat", "wgan-clip", "wgan-gp", "wgan-sn", "wgan-sn-l2", "ttur", "n-gen-2",
            "minibatch", "unrolled", "feature-matching", "diversity", "fargan", "best"}


def test_every_recipe_exists_and_shares_network_sizes():
    assert set(recipe_names()) == EXPECTED
    sizes = {(r.model.z_dim, r.model.generator_hidden, r.model.generator_layers, r.model.critic_hidden,
              r.model.critic_layers) for r in map(load_recipe, EXPECTED)}
    assert sizes == {(2, 400, 4, 200, 3)}


@pytest.mark.parametrize("recipe", sorted(EXPECTED))
def test_recipe_smoke(recipe, tmp_path):
    metrics = train_toy("grid", recipe, seed=1, out=tmp_path, iterations=2)
    samples = np.load(tmp_path / "samples.npy")
    assert samples.shape == (2500, 2) and samples.dtype == np.float32
    assert json.loads((tmp_path / "metrics.json").read_text()) == metrics
    assert {"modes", "hq", "reverse_kl"} <= metrics.keys() and metrics["skipped_steps"] == 0
    for name in ("samples.png", "config.yaml", "train.log"):
        assert (tmp_path / name).stat().st_size > 0


def test_same_seed_same_samples(tmp_path):
    train_toy("ring", "wgan-gp", 3, tmp_path / "a", iterations=3)
    train_toy("ring", "wgan-gp", 3, tmp_path / "b", iterations=3)
    assert np.array_equal(np.load(tmp_path / "a/samples.npy"), np.load(tmp_path / "b/samples.npy"))


def _one_step_recipes(tmp_path, monkeypatch, names):
    """Copies of the named recipes, cut to one iteration, as the only recipes the toy package sees."""
    import yaml

    import audiogan.toy.train as tt
    recipes = tmp_path / "recipes"
    recipes.mkdir()
    for name in names:
        data = yaml.safe_load((tt.recipe_dir() / f"{name}.yaml").read_text())
        (recipes / f"{name}.yaml").write_text(yaml.safe_dump({**data, "iterations": 1}))
    monkeypatch.setattr(tt, "recipe_dir", lambda: recipes)
    return recipes


def test_ablate_tables_and_resume(tmp_path, monkeypatch, inline_executor):
    import yaml

    recipes = _one_step_recipes(tmp_path, monkeypatch, ["nonsat", "wgan-gp"])
    monkeypatch.setattr(runs, "ProcessPoolExecutor", inline_executor)
    out = tmp_path / "out"
    table = ablate("ring", 2, out, workers=1)
    assert set(table) == {"nonsat", "wgan-gp"} and table["nonsat"]["runs"] == 2
    md = (out / "table.md").read_text()
    assert "| nonsat |" in md and "| wgan-gp |" in md
    assert json.loads((out / "table.json").read_text())["seeds"] == 2
    assert (out / "panels.png").stat().st_size > 0
    run = json.loads((out / "runs/nonsat/seed_1/metrics.json").read_text())
    assert run["threads"] == torch.get_num_threads()  # wall times are read against the threads used

    def stamp(recipe):
        return (out / f"runs/{recipe}/seed_1/metrics.json").stat().st_mtime_ns

    before = {r: stamp(r) for r in ("nonsat", "wgan-gp")}
    recipe = yaml.safe_load((recipes / "nonsat.yaml").read_text())
    (recipes / "nonsat.yaml").write_text(yaml.safe_dump({**recipe, "description": "reworded"}))
    ablate("ring", 2, out, workers=1)  # finished runs of an unchanged method are skipped
    assert {r: stamp(r) for r in before} == before
    (recipes / "nonsat.yaml").write_text(yaml.safe_dump({**recipe, "batch_size": 32}))
    ablate("ring", 2, out, workers=1)  # a changed method is trained again
    assert stamp("nonsat") != before["nonsat"] and stamp("wgan-gp") == before["wgan-gp"]
    assert load_recipe(str(out / "runs/nonsat/seed_1/config.yaml")).batch_size == 32


def test_ablate_splits_the_cores_among_workers(monkeypatch):
    import audiogan.runs as runs
    monkeypatch.setattr(runs, "available_cores", lambda: 4)
    assert [runs.threads_per_worker(w) for w in (1, 2, 3, 4, 8)] == [4, 2, 1, 1, 1]


@pytest.mark.parametrize("args,needle", [
    (["--data", "ring", "--recipe", "nope"], "unknown recipe 'nope'; valid: best, diversity"),
    (["--data", "spiral", "--recipe", "best"], "unknown data 'spiral'; valid: ring, grid"),
])
def test_cli_bad_names_one_line(args, needle, tmp_path):
    result = CliRunner().invoke(app, ["toy", "train", *args, "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert needle in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1


def test_cli_ablate_bad_recipe(tmp_path):
    result = CliRunner().invoke(app, ["toy", "ablate", "--data", "ring", "--recipes", "best,bogus",
                                      "--out", str(tmp_path)])
    assert result.exit_code == 2 and "unknown recipe 'bogus'" in result.output


def test_generate_uses_batch_statistics_not_running_ones():
    """Samples come from batch-norm batch statistics on a copy: running buffers neither matter nor change."""
    import torch

    from audiogan.toy.mixtures import ring
    from audiogan.toy.train import build, generate

    torch.manual_seed(0)
    recipe = load_recipe("nonsat")
    recipe = recipe.model_copy(update={"model": replace(recipe.model, generator_batchnorm=True)})
    trainer = build(recipe)
    bns = [m for m in trainer.eval_generator().modules() if isinstance(m, torch.nn.BatchNorm1d)]
    assert bns
    first = generate(trainer, ring(), 64, 2, seed=1)
    for bn in bns:
        bn.running_mean.fill_(5.0)
        bn.running_var.fill_(9.0)
    second = generate(trainer, ring(), 64, 2, seed=1)
    np.testing.assert_array_equal(first, second)
    assert all(float(bn.running_mean[0]) == 5.0 for bn in bns)


def test_generator_without_batchnorm_starts_at_unit_scale():
    """He init: the untrained generator spreads 2-D noise over the data's extent, not a ~0.02 blob."""
    import torch

    from audiogan.toy.model import MLPGenerator, ToyModelConfig

    torch.manual_seed(0)
    with torch.no_grad():
        out = MLPGenerator(ToyModelConfig(generator_batchnorm=False))(torch.randn(1000, 2))
    assert 0.2 < float(out.std()) < 5.0


def test_generator_without_batchnorm_is_not_positively_homogeneous_at_init():
    """The first layer's random bias puts ReLU kinks off the origin: G(2 z) differs from 2 G(z)."""
    import torch

    from audiogan.toy.model import MLPGenerator, ToyModelConfig

    torch.manual_seed(0)
    generator = MLPGenerator(ToyModelConfig(generator_batchnorm=False))
    z = torch.randn(1000, 2)
    with torch.no_grad():
        gap = (generator(2 * z) - 2 * generator(z)).abs().mean() / (2 * generator(z)).abs().mean()
        bias = generator.net[0].bias.detach()
    assert float(gap) > 0.1
    assert 0.7 < float(bias.std()) < 1.3 and abs(float(bias.mean())) < 0.2


@pytest.mark.slow
def test_ablate_workers_exit_with_their_parent(tmp_path):
    """A killed ``ablate`` leaves no worker behind training in the background."""
    import os
    import signal
    import subprocess
    import sys
    import time

    script = tmp_path / "parent.py"
    script.write_text(
        "import multiprocessing as mp, os, time\n"
        "from concurrent.futures import ProcessPoolExecutor\n"
        "from audiogan.runs import init_worker\n"
        "if __name__ == '__main__':\n"
        "    with ProcessPoolExecutor(1, mp_context=mp.get_context('spawn'), initializer=init_worker) as pool:\n"
        "        print(pool.submit(os.getpid).result(), flush=True)\n"
        "        pool.submit(time.sleep, 120)\n"
        "        time.sleep(120)\n")
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        worker = int(parent.stdout.readline())
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(worker, 0)
        except ProcessLookupError:
            return
        stat = f"/proc/{worker}/stat"
        if os.path.exists(stat) and open(stat).read().rsplit(")", 1)[1].split()[0] == "Z":
            return  # exited; only waiting to be reaped by whoever adopted it
        time.sleep(0.2)
    os.kill(worker, signal.SIGKILL)
    raise AssertionError("the worker outlived its parent")


def test_flush_denormals_inside_the_block_only():
    import torch

    from audiogan.toy.train import flush_denormals

    tiny = torch.tensor([1e-40])  # a float32 subnormal
    with flush_denormals():
        assert float(tiny * 1.0) == 0.0
    assert float(tiny * 1.0) > 0.0
