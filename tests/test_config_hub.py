"""Every recipe in configs/ and every model in models/ loads, from any working directory; config
mistakes are refused in one line that names the key and the file."""


import pytest

from audiogan.audio.enhance.enhancer import Enhancer, EnhancerConfig
from audiogan.audio.losses import AudioAdversarialConfig, AudioLossWeights
from audiogan.audio.models import SpectralGainConfig, WaveGeneratorConfig
from audiogan.audio.train import AudioTrainConfig
from audiogan.config import ConfigError, load_config, parse_config
from audiogan.resources import configs_dir, models_dir
from audiogan.toy.train import ToyRecipe

AUDIO_RECIPES = sorted(configs_dir().glob("*.yaml"))
TOY_RECIPES = sorted((configs_dir() / "toy").glob("*.yaml"))
MODELS = sorted(p for p in models_dir().iterdir() if (p / "config.yaml").is_file())


def test_the_hub_is_not_empty():
    names = {p.name for p in AUDIO_RECIPES}
    assert {"base.yaml", "base-l1.yaml", "debug.yaml"} <= names
    assert len(TOY_RECIPES) >= 10 and "audiogan-base" in {p.name for p in MODELS}


@pytest.fixture(autouse=True)
def _elsewhere(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing may depend on the working directory


@pytest.mark.parametrize("path", AUDIO_RECIPES, ids=[p.name for p in AUDIO_RECIPES])
def test_audio_recipe_loads(path):
    cfg = load_config(path, AudioTrainConfig)
    assert cfg.generator.conv_layers >= 10


@pytest.mark.parametrize("path", TOY_RECIPES, ids=[p.stem for p in TOY_RECIPES])
def test_toy_recipe_loads(path):
    assert load_config(path, ToyRecipe).iterations > 0


@pytest.mark.parametrize("folder", MODELS, ids=[p.name for p in MODELS])
def test_model_folder_and_its_training_config_load(folder):
    config = load_config(folder / "config.yaml", EnhancerConfig)
    assert Enhancer.from_pretrained(folder.name).config == config  # by shipped name, from anywhere
    if (folder / "training_config.yaml").exists():
        assert load_config(folder / "training_config.yaml", AudioTrainConfig).generator == config.generator


def test_shipped_and_debug_recipes_use_the_shipped_generator_kind():
    shipped = load_config(models_dir() / "audiogan-base" / "config.yaml", EnhancerConfig).generator
    for name in ("base.yaml", "base-l1.yaml", "debug.yaml"):
        assert load_config(configs_dir() / name, AudioTrainConfig).generator.kind == shipped.kind
    assert isinstance(AudioTrainConfig().generator, type(shipped))  # the code's default is the shipped kind


@pytest.mark.parametrize("text, needle", [
    ("adversarial: {weights: {loss/stoy: 60}}", "unknown key 'adversarial.weights.loss/stoy'"),
    ("adversarial: {weights: {loss/recon: -1}}", "adversarial.weights"),
    ("generator: {kind: spectral_gain, strides: [4, 4]}", "unknown key 'generator.spectral_gain.strides'"),
    ("generator: {n_fft: 512, upsample: linear}", "unknown key 'generator.spectral_gain.upsample'"),
    ("generator: {kind: waveform, n_fft: 512}", "unknown key 'generator.waveform.n_fft'"),
    ("generator: {kind: wavelet}", "unknown kind 'wavelet' for 'generator'; valid: 'spectral_gain', 'spectral_phase', 'waveform'"),
])
def test_mistakes_are_refused_naming_key_and_file(tmp_path, text, needle):
    path = tmp_path / "x.yaml"
    path.write_text(text + "\n")
    with pytest.raises(ConfigError) as err:
        load_config(path, AudioTrainConfig)
    message = str(err.value)
    assert message.startswith(f"{path}: ") and needle in message and "\n" not in message


def test_a_partial_adversarial_block_keeps_the_audio_defaults():
    cfg = parse_config({"adversarial": {"gp_every": 4, "weights": {"loss/gp": 10}}}, AudioTrainConfig)
    adv = cfg.adversarial
    assert isinstance(adv, AudioAdversarialConfig) and isinstance(adv.weights, AudioLossWeights)
    assert (adv.ema_decay, adv.fargan_count, adv.gp_every) == (0.999, 1, 4)
    assert adv.weights.as_dict() == {**AudioLossWeights().as_dict(), "loss/gp": 10.0}
    assert adv.weights.l2 == 1e-4 and adv.weights.drift == 1e-3 and adv.weights.recon == 20.0
    assert parse_config({}, AudioTrainConfig).adversarial == AudioAdversarialConfig()


def test_generator_kinds_are_told_apart():
    assert isinstance(parse_config({"generator": {"channels": 8}}, AudioTrainConfig).generator, SpectralGainConfig)
    wave = parse_config({"generator": {"kind": "waveform", "strides": [2, 4]}}, AudioTrainConfig).generator
    assert isinstance(wave, WaveGeneratorConfig) and wave.hop == 8


def test_loss_weights_from_python_refuse_unknown_names():
    with pytest.raises(ValueError, match="unknown loss weight 'loss/stoy'"):
        AudioAdversarialConfig(weights={"loss/stoy": 60.0})
    assert AudioAdversarialConfig(weights={"loss/stoi": 60.0}).weights.stoi == 60.0


def test_a_run_saved_before_a_key_existed_resumes_when_the_key_is_at_its_default():
    """A config saved by an older version lacks keys added since (here metric and loss/metric): at their
    defaults they are no difference, while a real change is still refused."""
    import yaml

    from audiogan.config import check_resume_config, dump_yaml

    cfg = parse_config({"steps": 10}, AudioTrainConfig)
    old = yaml.safe_load(dump_yaml(cfg))
    del old["metric"], old["adversarial"]["weights"]["loss/metric"]
    check_resume_config(yaml.safe_dump(old), cfg, "run", accept=("steps",))
    with pytest.raises(ConfigError, match="seed: 0 -> 3"):
        check_resume_config(yaml.safe_dump(old), cfg.model_copy(update={"seed": 3}), "run")
    old["removed_key"] = 1  # a key that no longer exists is named
    with pytest.raises(ConfigError, match="removed_key"):
        check_resume_config(yaml.safe_dump(old), cfg, "run")
