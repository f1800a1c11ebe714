import errno
import json

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml
from typer.testing import CliRunner

from audiogan.audio.data.synthetic import synth_utterance
from audiogan.audio.train import AudioTrainConfig, train
from audiogan.checkpoint import latest_checkpoint
from audiogan.cli import app
from audiogan.config import ConfigError, dump_yaml, load_config, parse_config

SR = 16000


# The three ways an iteration draws its batches: critic + generator batch; one batch (no critic); one
# batch shared by both steps.
MODES = {
    "adversarial": {},
    "reconstruction_only": {"weights": {"loss/adv": 0.0}},
    "reuse_fakes": {"reuse_fakes": True},
}


def tiny(adversarial: dict | None = None, **data) -> AudioTrainConfig:
    return parse_config({
        "steps": 6, "seed": 3,
        "data": {"mode": "synthetic", "synthetic_utterances": 2, "segment_seconds": 0.125, "batch_size": 2,
                 "degrade": {"names": ["noise", "quantize", "clipping"]}, **data},
        "generator": {"kind": "spectral_gain", "n_fft": 64, "channels": 8, "blocks": 3},
        "critic": {"stft_sizes": [128], "waveform_scales": 1, "channels": 4, "blocks": 2},
        "recon": {"fft_sizes": [128, 256]},
        "generator_growth": {"start_depth": 1, "max_depth": 3, "stable_steps": 2, "fade_steps": 1},
        "critic_growth": {"start_depth": 1, "max_depth": 2, "stable_steps": 3, "fade_steps": 1},
        "adversarial": adversarial or {},
        "log_every": 1, "sample_every": 3, "checkpoint_every": 2,
    }, AudioTrainConfig)


def metrics(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("mode", MODES)
def test_exact_resume_matches_uninterrupted_run(tmp_path, mode):
    """Stopped and resumed, a run logs exactly what an uninterrupted one does and ends with the same weights,
    whatever number of batches an iteration draws (the trainer saves the count it drew)."""
    cfg = tiny(MODES[mode])
    train(cfg, tmp_path / "straight")
    train(cfg, tmp_path / "split", stop_after=3)  # stops after a checkpoint-less step: resumes from 2
    train(cfg, tmp_path / "split", resume=True)
    a, b = metrics(tmp_path / "straight"), metrics(tmp_path / "split")
    assert [r["step"] for r in b] == list(range(1, 7))
    timing = lambda row: {k: v for k, v in row.items() if k.startswith("time/")}  # noqa: E731  (wall clock)
    assert a == [{**rb, **timing(ra)} for ra, rb in zip(a, b)]  # every other logged value
    assert {r["growth/generator_depth"] for r in a} == {1.0, 2.0, 3.0}
    assert ("loss/critic" in a[0]) == (mode != "reconstruction_only")
    # The card says whether critics trained, and quotes each figure's last logged value.
    from audiogan.audio.export import export_model

    card = (export_model(tmp_path / "straight", tmp_path / "model") / "README.md").read_text()
    assert ("the critics were never trained" in card) == (mode == "reconstruction_only")
    assert f"`loss/recon` at the last logged step: {a[-1]['loss/recon']:.4g}" in card
    _same_weights(tmp_path / "straight", tmp_path / "split")
    assert all(r["guard/skipped"] == 0 for r in a)
    for name in ("loss_curves.png", "spectrograms.png", "config.yaml"):
        assert (tmp_path / "straight" / name).stat().st_size > 0
    assert any((tmp_path / "straight" / "tb").iterdir())


def test_resume_with_other_config_and_fresh_run_in_used_folder(tmp_path):
    train(tiny(), tmp_path / "r", stop_after=2)
    with pytest.raises(ConfigError, match="seed: 3 -> 4"):  # steps, threads, workers: the changes a resume takes
        train(tiny().model_copy(update={"seed": 4}), tmp_path / "r", resume=True)
    more_cores = tiny().model_copy(update={"threads": 2, "steps": 3})
    more_cores.data.num_workers = 1
    assert train(more_cores, tmp_path / "r", resume=True)["guard/skipped"] == 0
    with pytest.raises(ConfigError, match="already holds a run"):
        train(tiny(), tmp_path / "r")


@pytest.fixture()
def corpus(tmp_path):
    rng = np.random.default_rng(0)
    clean, degraded = tmp_path / "clean", tmp_path / "degraded"
    for root in (clean, degraded):
        (root / "sub").mkdir(parents=True)
    for i in range(3):
        x = synth_utterance(0.5, SR, rng)
        sf.write(clean / "sub" / f"u{i}.wav", x, SR)
        sf.write(degraded / "sub" / f"u{i}.wav", np.clip(x + 0.05 * rng.standard_normal(len(x)), -1, 1), SR)
    return clean, degraded


@pytest.mark.parametrize("mode", ["clean", "paired", "unpaired"])
def test_every_data_mode_trains(mode, corpus, tmp_path):
    clean, degraded = corpus
    data = {"mode": mode, "clean": [str(clean)]}
    if mode != "clean":
        data["degraded"] = [str(degraded)]
    stats = train(tiny(**data).model_copy(update={"steps": 2}), tmp_path / mode)
    assert np.isfinite(stats["loss/recon"]) and stats["guard/skipped"] == 0
    assert latest_checkpoint(tmp_path / mode) is not None


def test_debug_config_and_shipped_recipes_load():
    from pathlib import Path
    for path in sorted(Path("configs").glob("*.yaml")):
        cfg = load_config(path, AudioTrainConfig)
        assert cfg.generator.conv_layers >= 8


def test_growth_must_fit_the_network():
    raw = yaml.safe_load(yaml.safe_dump(tiny().model_dump(mode="json")))
    raw["generator_growth"]["max_depth"] = 7
    with pytest.raises(ConfigError, match="generator_growth.max_depth"):
        parse_config(raw, AudioTrainConfig)


def test_cli_train_resume_export_enhance(tmp_path):
    cfg_path = tmp_path / "tiny.yaml"
    cfg_path.write_text(yaml.safe_dump(tiny().model_dump(mode="json")))
    run, model = tmp_path / "run", tmp_path / "model"
    r = CliRunner()
    assert r.invoke(app, ["train", str(cfg_path), "--out", str(run), "--stop-after", "3"]).exit_code == 0
    assert r.invoke(app, ["train", str(cfg_path), "--out", str(run), "--resume"]).exit_code == 0
    assert r.invoke(app, ["export", str(run), str(model)]).exit_code == 0
    assert {p.name for p in model.iterdir()} >= {"config.yaml", "model.safetensors", "README.md"}
    x = synth_utterance(0.7, 22050, np.random.default_rng(1))
    sf.write(tmp_path / "in.wav", np.stack([x, x * 0.5], 1), 22050, subtype="PCM_24")
    res = r.invoke(app, ["enhance", str(tmp_path / "in.wav"), "-o", str(tmp_path / "out.wav"), "--model", str(model)])
    assert res.exit_code == 0, res.output
    info = sf.info(str(tmp_path / "out.wav"))
    assert (info.samplerate, info.channels, info.subtype, info.frames) == (22050, 2, "PCM_24", len(x))


def test_cli_train_errors_are_one_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("steps: 3\ngenrator: {}\n")
    res = CliRunner().invoke(app, ["train", str(bad), "--out", str(tmp_path / "r")])
    assert res.exit_code == 2 and "unknown key 'genrator'" in res.output and "Traceback" not in res.output
    res = CliRunner().invoke(app, ["export", str(tmp_path / "nothing"), str(tmp_path / "m")])
    assert res.exit_code == 2 and "no checkpoint to export" in res.output


def _same_weights(run_a, run_b):
    from audiogan.checkpoint import load_checkpoint

    _, models_a, state_a = load_checkpoint(latest_checkpoint(run_a))
    _, models_b, state_b = load_checkpoint(latest_checkpoint(run_b))
    assert state_a["step"] == state_b["step"] and state_a["batches_drawn"] == state_b["batches_drawn"]
    for name, tensors in models_a.items():
        for key, value in tensors.items():
            assert torch.equal(value, models_b[name][key]), (name, key)


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
def test_kill_9_mid_run_then_resume(tmp_path, mode):
    """SIGKILL at an arbitrary moment after the first checkpoint; the run resumes and ends as a straight one."""
    import os
    import signal
    import subprocess
    import sys
    import time

    cfg = tiny(MODES[mode]).model_copy(update={"steps": 8, "checkpoint_every": 2})
    cfg_path = tmp_path / "tiny.yaml"
    cfg_path.write_text(dump_yaml(cfg))
    run = tmp_path / "killed"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "audiogan", "train", str(cfg_path), "--out", str(run)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while latest_checkpoint(run) is None and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert latest_checkpoint(run) is not None
    train(cfg, run, resume=True)
    train(cfg, tmp_path / "straight")
    a, b = metrics(tmp_path / "straight"), metrics(run)
    assert [r["step"] for r in b] == list(range(1, 9))
    assert [r["loss/recon"] for r in a] == [r["loss/recon"] for r in b]
    _same_weights(tmp_path / "straight", run)


def test_a_full_disk_in_the_training_logs_names_the_path(tmp_path, monkeypatch):
    """Once TensorBoard's writer thread has failed, every call re-raises its error, which names no file: the
    run logger names its folder. The thread's own report is one warning line; another thread's exception
    goes to the hook that was there before."""
    import threading

    from tensorboard.summary.writer.event_file_writer import _AsyncWriterThread

    from audiogan.audio.run_log import RunLogger
    from audiogan.cli import common

    logger = RunLogger(tmp_path, 0, 16000)

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    for call in (lambda: logger.scalars(1, {"loss/recon": 0.5}), logger.close):
        monkeypatch.setattr(logger.tb._writer, "add_scalar", full)
        monkeypatch.setattr(logger.tb._writer, "close", full)
        with pytest.raises(OSError) as caught:
            call()
        assert caught.value.filename == str(tmp_path / "tb") and caught.value.errno == errno.ENOSPC
    lines, passed_on = [], []
    monkeypatch.setattr(common, "warn", lines.append)
    monkeypatch.setitem(common._previous_hook, "hook", passed_on.append)
    error = OSError(errno.ENOSPC, "No space left on device")
    writer = _AsyncWriterThread.__new__(_AsyncWriterThread)  # its type is what is looked at
    common._thread_failed(threading.ExceptHookArgs([OSError, error, None, writer]))
    assert lines == ["TensorBoard's writer: No space left on device (ENOSPC)"] and passed_on == []
    other = threading.ExceptHookArgs([OSError, error, None, threading.Thread(target=full)])
    common._thread_failed(other)
    assert passed_on == [other] and len(lines) == 1
