"""Every model folder in models/ loads without pickle and enhances; the default model is among them."""

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audiogan.audio.enhance.enhancer import DEFAULT_MODEL, Enhancer
from audiogan.resources import models_dir

MODELS = sorted(p for p in models_dir().iterdir() if (p / "config.yaml").exists())


def test_default_model_ships():
    assert (models_dir() / DEFAULT_MODEL / "model.safetensors").exists()
    assert Enhancer.from_pretrained().config.name == DEFAULT_MODEL


@pytest.mark.parametrize("folder", MODELS, ids=[p.name for p in MODELS])
def test_model_folder_loads_and_enhances(folder: Path):
    assert (folder / "README.md").exists()
    assert (folder / "model.safetensors").stat().st_size < 20 * 2 ** 20  # under 20 MB
    enh = Enhancer.from_pretrained(folder)
    assert enh.config.generator.conv_layers >= 32
    x = (0.1 * np.random.default_rng(0).standard_normal(1600)).astype(np.float32)
    y = enh(x, enh.sample_rate)
    assert y.shape == x.shape and np.isfinite(y).all()


def test_shipped_sample_runs_through_the_cli(tmp_path):
    from typer.testing import CliRunner

    from audiogan.cli import app
    sample = models_dir() / DEFAULT_MODEL / "samples" / "degraded.wav"
    res = CliRunner().invoke(app, ["enhance", str(sample), "-o", str(tmp_path / "out.wav")])
    assert res.exit_code == 0, res.output
    assert sf.info(str(tmp_path / "out.wav")).frames == sf.info(str(sample)).frames
