import errno
import os
import subprocess
import sys
from dataclasses import field

import pydantic
import pytest
import torch
from torch import nn

from audiogan import checkpoint as ck
from audiogan.config import ConfigError, check_resume_config, dump_yaml, load_config, parse_config
from audiogan.gan import AdversarialConfig, OptimizerConfig, apply_spectral_norm


class Run(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    steps: int = 10
    adversarial: AdversarialConfig = field(default_factory=AdversarialConfig)
    generator_opt: OptimizerConfig = field(default_factory=OptimizerConfig)


def test_unknown_key_names_key_and_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("steps: 3\nadversarial:\n  n_critci: 5\n")
    with pytest.raises(ConfigError) as err:
        load_config(path, Run)
    msg = str(err.value)
    assert msg == f"{path}: unknown key 'adversarial.n_critci'"
    assert "\n" not in msg


def test_bad_values_are_one_line(tmp_path):
    for text, needle in [("steps: many\n", "bad value for 'steps'"),
                         ("adversarial:\n  loss: wgan\n", "unknown adversarial loss 'wgan'"),
                         ("generator_opt:\n  betas: [0.5]\n", "generator_opt.betas"),
                         ("- 1\n- 2\n", "expected a mapping"),
                         ("steps: [1\n", "not valid YAML")]:
        path = tmp_path / "c.yaml"
        path.write_text(text)
        with pytest.raises(ConfigError, match=needle) as err:
            load_config(path, Run)
        assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "missing.yaml", Run)


def test_weights_merge_with_defaults_and_dump_roundtrip():
    cfg = parse_config({"adversarial": {"weights": {"loss/gp": 10}}}, Run)
    assert cfg.adversarial.weights.gp == 10 and cfg.adversarial.weights.adv == 1.0
    assert dump_yaml(cfg).count("loss/gp: 10") == 1  # written back under the logged names
    again = parse_config(__import__("yaml").safe_load(dump_yaml(cfg)), Run)
    assert again == cfg


def test_resume_with_different_config_shows_difference():
    a = parse_config({"steps": 10}, Run)
    b = parse_config({"steps": 20, "adversarial": {"n_critic": 5}}, Run)
    check_resume_config(dump_yaml(a), a, "run")
    with pytest.raises(ConfigError, match=r"adversarial.n_critic: 1 -> 5; steps: 10 -> 20"):
        check_resume_config(dump_yaml(a), b, "run")


def test_checkpoint_roundtrip_strict_and_weights_only(tmp_path):
    model = apply_spectral_norm(nn.Sequential(nn.Conv1d(1, 4, 3), nn.Linear(4, 2)))  # (B,4,T)->Linear on T=4
    opt = torch.optim.Adam(model.parameters())
    model(torch.randn(2, 1, 6)).sum().backward()
    opt.step()
    state = {"step": 7, "opt": opt.state_dict(), "rng": ck.rng_state()}
    folder = ck.save_checkpoint(ck.step_folder(tmp_path, 7), "a: 1\n", {"critic": model.state_dict()}, state)
    cfg_text, models, loaded = ck.load_checkpoint(folder)
    assert cfg_text == "a: 1\n" and loaded["step"] == 7
    fresh = apply_spectral_norm(nn.Sequential(nn.Conv1d(1, 4, 3), nn.Linear(4, 2)))
    fresh.load_state_dict(models["critic"], strict=True)
    for (k, v), v2 in zip(model.state_dict().items(), fresh.state_dict().values()):
        assert torch.equal(v, v2), k
    with pytest.raises(RuntimeError):  # never strict=False: a different model refuses to load
        nn.Sequential(nn.Conv1d(1, 4, 3)).load_state_dict(models["critic"], strict=True)
    assert ck.latest_checkpoint(tmp_path) == folder


def test_rng_state_roundtrip(weights_only_roundtrip):
    import random

    import numpy as np
    state = weights_only_roundtrip(ck.rng_state())
    a = (torch.rand(3), np.random.rand(3), random.random())
    ck.set_rng_state(state)
    b = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(a[0], b[0]) and (a[1] == b[1]).all() and a[2] == b[2]


def test_overwrite_and_incomplete_folders(tmp_path):
    f1 = ck.save_checkpoint(ck.step_folder(tmp_path, 1), "x: 1\n", {"m": {"w": torch.ones(2)}})
    ck.save_checkpoint(f1, "x: 2\n", {"m": {"w": torch.zeros(2)}})
    assert ck.load_checkpoint(f1)[0] == "x: 2\n"
    # A killed write leaves a temporary folder, which is never taken for a checkpoint.
    (tmp_path / "checkpoints" / ".step_00000009.tmp-1").mkdir()
    (tmp_path / "checkpoints" / "step_00000005").mkdir()  # no config.yaml: incomplete
    assert ck.latest_checkpoint(tmp_path) == f1
    for step in (2, 3, 4):
        ck.save_checkpoint(ck.step_folder(tmp_path, step), "x\n", {"m": {"w": torch.ones(1)}})
    ck.prune_checkpoints(tmp_path, keep=2)
    names = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert names == ["step_00000004", "step_00000005"]


@pytest.mark.slow
def test_kill_during_save_leaves_previous_checkpoint(tmp_path):
    """A process killed with SIGKILL mid-save leaves the last complete checkpoint loadable."""
    good = ck.save_checkpoint(ck.step_folder(tmp_path, 1), "ok\n", {"m": {"w": torch.ones(3)}})
    script = (
        "import os, signal, torch, safetensors.torch as st\n"
        "from audiogan import checkpoint as ck\n"
        "orig = st.save_file\n"
        "def killer(*a, **k):\n"
        "    orig(*a, **k); os.kill(os.getpid(), signal.SIGKILL)\n"
        "st.save_file = killer\n"
        f"ck.save_checkpoint(ck.step_folder({str(tmp_path)!r}, 2), 'new', {{'m': {{'w': torch.zeros(3)}}}})\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert proc.returncode == -9
    assert ck.latest_checkpoint(tmp_path) == good
    assert torch.equal(ck.load_checkpoint(good)[1]["m"]["w"], torch.ones(3))
    ck.save_checkpoint(ck.step_folder(tmp_path, 3), "x\n", {"m": {"w": torch.ones(1)}})
    ck.prune_checkpoints(tmp_path, keep=5)
    assert not any(p.name.startswith(".") for p in (tmp_path / "checkpoints").iterdir())


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    path = tmp_path / "out.txt"
    path.write_text("old")

    def fail(tmp):
        tmp.write_text("half")
        raise OSError("disk full")
    with pytest.raises(OSError):
        ck.atomic_write(path, fail)
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["out.txt"]


def test_config_errors_name_every_bad_key_and_refuse_an_empty_file(tmp_path):
    """Two misspelt keys are both named (the second is not hidden behind "and 1 more"); a misspelt
    degradation names the file and its key when the config is read; an empty file is not a config."""
    from audiogan.audio.train import AudioTrainConfig

    with pytest.raises(ConfigError, match=r"^t.yaml: unknown key 'stpes' \(and 1 more: 'lgo_every'\)$"):
        parse_config({"stpes": 3, "lgo_every": 1}, AudioTrainConfig, "t.yaml")
    path = tmp_path / "typo.yaml"
    path.write_text("data: {degrade: {names: [noise, mel_smaer]}}\n")
    with pytest.raises(ConfigError, match=rf"^{path}: bad value for 'data.degrade.names': must be known "
                                          r"degradations, got 'mel_smaer' \(valid: .*mel_smear"):
        load_config(path, AudioTrainConfig)
    path.write_text("")
    with pytest.raises(ConfigError, match="the config is empty"):
        load_config(path, AudioTrainConfig)


def test_a_write_that_names_no_file_is_reported_with_the_target(tmp_path):
    """A library that fails on a full disk without naming its file (matplotlib's savefig, TensorBoard's
    writer) is reported with the path the user asked for, and leaves no temporary behind."""
    from audiogan.checkpoint import atomic_write

    def full(tmp):
        tmp.write_bytes(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError) as caught:
        atomic_write(tmp_path / "plot.png", full)
    assert caught.value.filename == str(tmp_path / "plot.png") and caught.value.errno == errno.ENOSPC
    assert "cannot write" in str(caught.value) and list(tmp_path.iterdir()) == []
