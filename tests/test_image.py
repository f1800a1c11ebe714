"""Image DCGANs: the DCGAN shape and normalisation rules, the digits data, the scorer, a few-step run of
every recipe, the exported generator, the ablation's tables and resume, and the CLI's one-line errors."""

import json

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize
from typer.testing import CliRunner

import audiogan.runs as runs
from audiogan.cli import app
from audiogan.config import ConfigError, parse_config
from audiogan.image.data import digits, get_data, mode_ids, split
from audiogan.image.model import DCGANCritic, DCGANGenerator, ImageModelConfig
from audiogan.image.scorer import ClassifierConfig, DigitScorer, kl_to_uniform
from audiogan.image.train import (ImageRecipe, check_recipe, load_generator, load_recipe, recipe_dir, recipe_names,
                                  train_image)

EXPECTED = {"dcgan", "dcgan-nonsat", "wgan-clip", "wgan-gp", "wgan-sn", "wgan-sn-l2", "minibatch", "unrolled",
            "feature-matching", "diversity", "fargan", "pacgan", "best"}
TINY = {"iterations": 2, "batch_size": 8, "log_every": 1,
        "model": {"z_dim": 8, "generator_width": 4, "critic_width": 4}}
TINY_CLASSIFIER = ClassifierConfig(widths=(8, 16), steps=60, batch_size=32, lr=5e-3)


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("AUDIOGAN_CACHE", str(tmp_path / "cache"))  # never the user's cache


@pytest.fixture(scope="module")
def scorer(tmp_path_factory):
    """A tiny classifier trained for a few steps (about a second)."""
    return DigitScorer.load_or_train(TINY_CLASSIFIER, tmp_path_factory.mktemp("classifier"))


# -- models ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("channels,pack,kernels,std", [(1, 1, 0, 0), (3, 1, 0, 0), (3, 2, 0, 0), (1, 1, 6, 0),
                                                       (3, 2, 0, 2), (3, 2, 6, 2)])
def test_output_shapes(channels, pack, kernels, std):
    cfg = ImageModelConfig(z_dim=8, channels=channels, generator_width=4, critic_width=4, pack=pack,
                           minibatch_kernels=kernels, minibatch_std_group=std)
    with torch.no_grad():
        x = DCGANGenerator(cfg)(torch.randn(8, 8))
    assert x.shape == (8, channels, 32, 32) and float(x.abs().max()) <= 1.0
    score, features = DCGANCritic(cfg)(x)
    assert score.shape == (8 // pack,)
    assert [f.shape[1:] for f in features] == [(4, 16, 16), (8, 8, 8), (16, 4, 4)]


def _layers(module, kind):
    return [m for m in module.modules() if isinstance(m, kind)]


def test_dcgan_batch_norm_everywhere_but_the_generator_output_and_the_critic_input():
    cfg = ImageModelConfig(z_dim=8, generator_width=4, critic_width=4)
    generator, critic = DCGANGenerator(cfg), DCGANCritic(cfg)
    convs = _layers(generator, nn.ConvTranspose2d)
    assert len(convs) == 4 and not _layers(generator, nn.Linear)  # no fully connected layer
    assert [bn.num_features for bn in _layers(generator, nn.BatchNorm2d)] == [16, 8, 4]  # not after the output
    assert isinstance(generator.net[-1], nn.Tanh) and len(_layers(generator, nn.ReLU)) == 3
    assert not _layers(critic.hidden[0], nn.BatchNorm2d) and not _layers(critic.head, nn.BatchNorm2d)
    assert all(_layers(block, nn.BatchNorm2d) for block in critic.hidden[1:])
    assert len(_layers(critic, nn.LeakyReLU)) == 3 and not _layers(critic, nn.Linear)
    assert all(c.stride == (2, 2) for c in _layers(critic.hidden, nn.Conv2d))  # strided, no pooling


@pytest.mark.parametrize("norm", ["none", "spectral", "weight"])
@pytest.mark.parametrize("kernels", [0, 6])
def test_no_batch_norm_in_a_critic_without_it(norm, kernels):
    critic = DCGANCritic(ImageModelConfig(critic_width=4, critic_norm=norm, minibatch_kernels=kernels))
    assert not _layers(critic, nn.BatchNorm2d)


@pytest.mark.parametrize("kernels,std", [(0, 0), (6, 2)])
def test_spectral_norm_on_every_critic_layer(kernels, std):
    critic = DCGANCritic(ImageModelConfig(channels=3, critic_width=4, critic_norm="spectral", pack=2,
                                          minibatch_kernels=kernels, minibatch_std_group=std))
    layers = _layers(critic, (nn.Conv2d, nn.Linear))
    assert len(layers) == 4
    for layer in layers:
        assert parametrize.is_parametrized(layer, "weight")
        assert type(layer.parametrizations.weight[0]).__name__ == "_SpectralNorm"


def test_a_batch_norm_critic_with_a_gradient_penalty_is_refused():
    recipe = parse_config({"adversarial": {"loss": "wasserstein", "weights": {"loss/gp": 10}}}, ImageRecipe)
    with pytest.raises(ConfigError, match="model.critic_norm 'batch' with a gradient penalty"):
        check_recipe(recipe, "x.yaml")
    with pytest.raises(ConfigError, match="bad value for 'model.critic_norm': must be one of batch, none, spectral, weight"):
        parse_config({"model": {"critic_norm": "layer"}}, ImageRecipe)


@pytest.mark.parametrize("norm", ["batch", "spectral"])
def test_the_minibatch_std_channel_sees_a_collapsed_batch_after_either_critic_norm(norm):
    """Batch norm normalises each channel over the batch *and* the 4x4 positions, so the spread across
    samples at one position that the minibatch-std channel reads still falls when the batch collapses.
    Checked against the spread computed here, by hand, over the packs of each group."""
    torch.manual_seed(0)
    real = get_data("stacked").sample(64, torch.Generator().manual_seed(0))
    collapsed = real[:1].expand(64, -1, -1, -1) + 0.05 * torch.randn(64, 3, 32, 32)
    critic = DCGANCritic(ImageModelConfig(channels=3, critic_norm=norm, pack=2, minibatch_std_group=4)).train()

    def channel_and_hand(x):
        h = x.reshape(32, 6, 32, 32)  # packs of 2, as the critic stacks them
        with torch.no_grad():
            for layer in critic.hidden:
                h = layer(h)
            out = critic.minibatch_std(h)[:, -1, 0, 0]
        groups = torch.stack([h[j::8] for j in range(8)])  # group j: packs j, j + 8, j + 16, j + 24
        return out, groups.std(dim=1, unbiased=False).flatten(1).mean(dim=1)

    std_real, hand_real = channel_and_hand(real)
    std_collapsed, _ = channel_and_hand(collapsed)
    torch.testing.assert_close(std_real[:8], hand_real, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(std_real[8:16], hand_real, atol=1e-4, rtol=1e-4)
    assert float(std_collapsed.mean()) < 0.3 * float(std_real.mean())


# -- data -----------------------------------------------------------------------------------------
def test_digits_are_real_32x32_in_range():
    images, labels = digits()
    assert images.shape == (1797, 1, 32, 32) and images.dtype == torch.float32
    assert float(images.min()) == -1.0 and float(images.max()) == 1.0
    assert set(labels.tolist()) == set(range(10))
    (x_train, _), (x_held, _) = split()
    assert len(x_train) + len(x_held) == 1797 and len(x_held) == 359


def test_stacked_digits_are_three_real_digits():
    data = get_data("stacked")
    assert (data.channels, data.n_modes, data.n_eval) == (3, 1000, 26_000)
    x, y = data.labelled(16, torch.Generator().manual_seed(0))
    assert x.shape == (16, 3, 32, 32) and y.shape == (16, 3)
    images, labels = digits()
    flat = images.flatten(1)
    for sample, classes in zip(x, y):
        for channel, label in zip(sample, classes):
            match = (flat == channel.flatten()).all(dim=1).nonzero().flatten()
            assert len(match) >= 1 and int(labels[match[0]]) == int(label)
    assert get_data("digits").sample(5).shape == (5, 1, 32, 32)
    assert mode_ids(np.array([[1, 2, 3], [0, 0, 9]])).tolist() == [123, 9]


# -- scorer ---------------------------------------------------------------------------------------
def test_kl_to_uniform():
    assert kl_to_uniform(np.full(1000, 26)) == 0.0
    assert kl_to_uniform(np.eye(10)[3] * 50) == pytest.approx(np.log(10))
    assert kl_to_uniform(np.zeros(10)) == float("inf")


def test_a_briefly_trained_classifier_sees_many_modes_in_real_digits(scorer):
    assert scorer.accuracy > 0.5
    digits_score = scorer.score(get_data("digits").sample(500, torch.Generator().manual_seed(1)))
    assert digits_score["modes"] >= 9 and digits_score["kl"] < 0.3
    stacked = scorer.score(get_data("stacked").sample(2000, torch.Generator().manual_seed(1)))
    assert stacked["modes"] >= 500
    assert scorer.score(np.zeros((50, 1, 32, 32), np.float32))["modes"] == 1  # one blank image, one mode


def test_the_classifier_is_cached_and_loaded(tmp_path):
    first = DigitScorer.load_or_train(ClassifierConfig(widths=(4,), steps=3), tmp_path)
    assert len(list(tmp_path.glob("digit-classifier-*.safetensors"))) == 1
    second = DigitScorer.load_or_train(ClassifierConfig(widths=(4,), steps=3), tmp_path)
    assert second.accuracy == first.accuracy
    for a, b in zip(first.model.state_dict().values(), second.model.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


# -- recipes and training -------------------------------------------------------------------------
def test_every_recipe_exists_loads_and_shares_the_networks():
    assert set(recipe_names()) == EXPECTED
    recipes = {name: load_recipe(name) for name in EXPECTED}
    assert {(r.model.z_dim, r.model.generator_width, r.model.critic_width) for r in recipes.values()} == {(64, 32, 32)}
    assert all(r.iterations > 0 and r.description for r in recipes.values())
    assert {n for n, r in recipes.items() if r.model.critic_norm != "batch"} == {"wgan-gp", "wgan-sn", "wgan-sn-l2",
                                                                                 "fargan", "best"}
    assert len(list(recipe_dir().glob("*.yaml"))) == len(EXPECTED)


@pytest.mark.parametrize("recipe", sorted(EXPECTED))
def test_recipe_smoke(recipe, tmp_path, scorer):
    metrics = train_image("stacked", recipe, seed=1, out=tmp_path, overrides=TINY, n_samples=16, scorer=scorer)
    samples = np.load(tmp_path / "samples.npy")
    assert samples.shape == (16, 3, 32, 32) and samples.dtype == np.float32 and np.abs(samples).max() <= 1.0
    assert json.loads((tmp_path / "metrics.json").read_text()) == metrics
    assert {"modes", "kl", "confidence", "classifier_accuracy"} <= metrics.keys() and metrics["skipped_steps"] == 0
    assert metrics["iterations"] == 2 and len((tmp_path / "train.log").read_text().splitlines()) == 2
    assert load_recipe(str(tmp_path / "config.yaml")).model.channels == 3
    for name in ("samples.png", "generator/model.safetensors", "generator/config.yaml"):
        assert (tmp_path / name).stat().st_size > 0


def test_same_seed_same_samples_and_the_exported_generator_reproduces_them(tmp_path, scorer):
    for run in ("a", "b"):
        train_image("digits", "wgan-gp", 3, tmp_path / run, overrides=TINY, n_samples=8, scorer=scorer)
    a = np.load(tmp_path / "a/samples.npy")
    assert a.shape == (8, 1, 32, 32) and np.array_equal(a, np.load(tmp_path / "b/samples.npy"))
    from audiogan.image.train import generate
    generator, config = load_generator(tmp_path / "a/generator")
    np.testing.assert_array_equal(generate(generator, 8, config.z_dim, seed=3), a)


def test_cli_sample_writes_a_grid(tmp_path, scorer):
    train_image("stacked", "pacgan", 1, tmp_path / "run", overrides=TINY, n_samples=8, scorer=scorer)
    result = CliRunner().invoke(app, ["image", "sample", str(tmp_path / "run/generator"), "--n", "6",
                                      "-o", str(tmp_path / "grid.png")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "grid.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("args,needle", [
    (["train", "--data", "digits", "--recipe", "nope"], "unknown recipe 'nope'; valid: best, dcgan"),
    (["train", "--data", "mnist", "--recipe", "best"], "unknown data 'mnist'; valid: digits, stacked"),
    (["ablate", "--data", "stacked", "--recipes", "best,bogus"], "unknown recipe 'bogus'"),
])
def test_cli_bad_names_one_line(args, needle, tmp_path):
    result = CliRunner().invoke(app, ["image", *args, "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert needle in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1


def test_cli_sample_of_a_folder_without_a_generator(tmp_path):
    result = CliRunner().invoke(app, ["image", "sample", str(tmp_path), "-o", str(tmp_path / "g.png")])
    assert result.exit_code == 2 and "not a generator folder" in result.output


# -- ablation -------------------------------------------------------------------------------------
def test_ablate_tables_panels_and_resume(tmp_path, monkeypatch, scorer, inline_executor):
    import yaml

    import audiogan.image.ablate as ab
    import audiogan.image.train as it
    recipes = tmp_path / "recipes"
    recipes.mkdir()
    for name in ("dcgan", "wgan-sn"):
        data = yaml.safe_load((it.recipe_dir() / f"{name}.yaml").read_text())
        data.update({k: v for k, v in TINY.items() if k != "model"})
        data["model"] = {**data["model"], **TINY["model"]}
        (recipes / f"{name}.yaml").write_text(yaml.safe_dump(data))
    monkeypatch.setattr(it, "recipe_dir", lambda: recipes)
    monkeypatch.setattr(runs, "ProcessPoolExecutor", inline_executor)
    monkeypatch.setattr(ab, "_run", lambda d, r, s, o: train_image(d, r, s, o, n_samples=16, scorer=scorer))
    monkeypatch.setattr(DigitScorer, "load_or_train", classmethod(lambda cls, *a, **k: scorer))
    out = tmp_path / "out"
    table = ab.ablate("stacked", 2, out, workers=1)
    assert set(table) == {"dcgan", "wgan-sn"} and table["dcgan"]["runs"] == 2
    md = (out / "table.md").read_text()
    assert "| dcgan |" in md and "| wgan-sn |" in md and "classifier" in md
    assert json.loads((out / "table.json").read_text())["seeds"] == 2
    assert (out / "panels.png").stat().st_size > 0

    def stamp(recipe):
        return (out / f"runs/{recipe}/seed_1/metrics.json").stat().st_mtime_ns

    before = {r: stamp(r) for r in ("dcgan", "wgan-sn")}
    recipe = yaml.safe_load((recipes / "dcgan.yaml").read_text())
    (recipes / "dcgan.yaml").write_text(yaml.safe_dump({**recipe, "description": "reworded"}))
    ab.ablate("stacked", 2, out, workers=1)  # finished runs of an unchanged method are skipped
    assert {r: stamp(r) for r in before} == before
    (recipes / "dcgan.yaml").write_text(yaml.safe_dump({**recipe, "batch_size": 4}))
    ab.ablate("stacked", 2, out, workers=1)  # a changed method is trained again
    assert stamp("dcgan") != before["dcgan"] and stamp("wgan-sn") == before["wgan-sn"]
