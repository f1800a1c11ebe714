"""Issue 16, training side: run folders that a failed start does not block, checkpoints that a damaged file
does not lose, exports that never delete a user's folder, resumes that say where they are, validated
numbers; and the evaluation and corpus tools' share of it."""

import logging
import os

import numpy as np
import pytest
import soundfile as sf
import yaml
from typer.testing import CliRunner

from audiogan.audio.data.dataset import EnhancementDataset
from audiogan.audio.data.synthetic import synth_utterance
from audiogan.audio.evaluate.report import evaluate_folders
from audiogan.audio.models import make_generator
from audiogan.audio.train import AudioTrainConfig, train
from audiogan.checkpoint import LOCK_NAME, FolderLock, checkpoints, save_checkpoint, step_folder
from audiogan.cli import app
from audiogan.config import ConfigError, dump_yaml, load_config, parse_config
from audiogan.errors import DataError

from .test_audio_train import metrics, tiny

SR = 16000


def _cli(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def _lines(res):
    return [line for line in res.output.splitlines() if line.strip()]


def _fake_run(run, step=6, steps=6):
    """A run folder with one checkpoint holding an untrained generator (no training: fast)."""
    cfg = tiny().model_copy(update={"steps": steps})
    gen = make_generator(cfg.generator)
    save_checkpoint(step_folder(run, step), dump_yaml(cfg), {"generator": gen.state_dict()}, {"step": step})
    (run / "config.yaml").write_text(dump_yaml(cfg))
    return run


# 1: export never replaces a folder that is not a model folder
def test_export_refuses_a_folder_that_is_not_a_model(tmp_path):
    run = _fake_run(tmp_path / "run")
    (tmp_path / "V" / "docs").mkdir(parents=True)
    (tmp_path / "V" / "docs" / "thesis.txt").write_text("x")
    res = _cli("export", run, tmp_path / "V")
    assert res.exit_code == 2 and len(_lines(res)) == 1 and "not an audiogan model folder" in res.output
    assert (tmp_path / "V" / "docs" / "thesis.txt").read_text() == "x"
    assert _cli("export", run, tmp_path / "M").exit_code == 0  # a new folder
    (tmp_path / "M" / "samples").mkdir()
    (tmp_path / "M" / "samples" / "x.wav").write_bytes(b"sample")
    res = _cli("export", run, tmp_path / "M")
    assert res.exit_code == 2 and "--overwrite" in res.output
    res = _cli("export", run, tmp_path / "M", "--overwrite", "--name", "again")
    assert res.exit_code == 0 and "name: again" in (tmp_path / "M" / "config.yaml").read_text()
    assert (tmp_path / "M" / "samples" / "x.wav").read_bytes() == b"sample"  # other files are kept
    (tmp_path / "E").mkdir()
    assert _cli("export", run, tmp_path / "E").exit_code == 0  # an empty folder


# 7 (export) and: exporting an unfinished run warns; 8: modes follow the umask
def test_export_corrupt_checkpoint_unfinished_run_and_modes(tmp_path):
    run = _fake_run(tmp_path / "run", step=3, steps=6)
    old = os.umask(0o022)
    try:
        res = _cli("export", run, tmp_path / "M")
    finally:
        os.umask(old)
    assert res.exit_code == 0 and "warning:" in res.output and "step 3 of 6: the run is not finished" in res.output
    assert (tmp_path / "M").stat().st_mode & 0o777 == 0o755
    card = (tmp_path / "M" / "README.md").read_text()
    assert 'from_pretrained("path/to/this/folder")' in card and 'from_pretrained("M")' in card
    assert {p.name: p.stat().st_mode & 0o777 for p in (tmp_path / "M").iterdir()} == {
        "config.yaml": 0o644, "model.safetensors": 0o644, "README.md": 0o644, "training_config.yaml": 0o644,
        "training.json": 0o644}
    (step_folder(run, 3) / "generator.safetensors").write_bytes(b"\0" * 40)
    res = _cli("export", run, tmp_path / "N")
    assert res.exit_code == 2 and len(_lines(res)) == 1 and "cannot load the checkpoint" in res.output
    (step_folder(run, 3) / "generator.safetensors").unlink()
    res = _cli("export", run, tmp_path / "N")
    assert res.exit_code == 2 and len(_lines(res)) == 1 and "no generator" in res.output


# 6: a failed start leaves no run behind; a run without a checkpoint starts again
def test_failed_start_then_rerun_and_run_without_checkpoint(tmp_path):
    run = tmp_path / "run"
    bad = tiny(mode="clean", clean=[str(tmp_path / "missing")]).model_copy(update={"steps": 2})
    with pytest.raises(DataError):
        train(bad, run)
    assert not (run / "config.yaml").exists()
    train(tiny().model_copy(update={"steps": 2}), run)  # the rerun works
    assert [r["step"] for r in metrics(run)] == [1, 2]
    other = tmp_path / "killed"  # killed before its first checkpoint: a config and no checkpoint
    other.mkdir()
    (other / "config.yaml").write_text(dump_yaml(tiny().model_copy(update={"seed": 9})))
    train(tiny().model_copy(update={"steps": 2}), other, resume=True)  # --resume starts it again
    assert [r["loss/recon"] for r in metrics(other)] == [r["loss/recon"] for r in metrics(run)]


def test_one_training_process_per_run_folder(tmp_path):
    run, cfg = tmp_path / "run", tmp_path / "tiny.yaml"
    cfg.write_text(dump_yaml(tiny().model_copy(update={"steps": 1})))
    run.mkdir()
    with FolderLock(run):
        res = _cli("train", cfg, "--out", run)
        assert res.exit_code == 2 and len(_lines(res)) == 1
        assert f"in use by another audiogan run (process {os.getpid()})" in res.output
    assert not (run / "config.yaml").exists()
    res = _cli("train", cfg, "--out", run)  # once the holder is gone, the run trains and lets the folder go
    assert res.exit_code == 0 and (run / "config.yaml").exists() and not (run / LOCK_NAME).exists()
    missing = tmp_path / "new"  # a start that fails before writing anything leaves no folder behind
    res = _cli("train", cfg, "--out", missing, "--device", "tpu")
    assert res.exit_code == 2 and not missing.exists()


# 7 (resume): a damaged newest checkpoint falls back to the newest one that loads
def test_resume_falls_back_past_a_damaged_checkpoint(tmp_path, caplog):
    cfg = tiny().model_copy(update={"steps": 6})
    run = tmp_path / "run"
    train(cfg, run, stop_after=4)  # checkpoints at 2 and 4
    assert [p.name for p in checkpoints(run)] == ["step_00000004", "step_00000002"]
    (step_folder(run, 4) / "critic.safetensors").write_bytes(b"garbage")
    steps = []
    with caplog.at_level(logging.WARNING):
        train(cfg, run, resume=True, progress=lambda step, total, stats: steps.append(step))
    assert "step_00000004" in caplog.text and "resuming from step_00000002" in caplog.text
    assert steps[:2] == [2, 3] and [r["step"] for r in metrics(run)] == list(range(1, 7))
    for p in checkpoints(run):
        (p / "training_state.pt").write_bytes(b"junk")
    with pytest.raises(ConfigError, match="no checkpoint loads") as err:
        train(cfg, run, resume=True)
    assert "\n" not in str(err.value)


# CLI habits: --stop-after, the resumed bar, a finished run, steps raised, --device
def test_cli_stop_resume_finished_and_extended(tmp_path):
    cfg_path, run = tmp_path / "c.yaml", tmp_path / "run"
    cfg_path.write_text(dump_yaml(tiny().model_copy(update={"steps": 4})))
    res = _cli("train", cfg_path, "--out", run, "--stop-after", "2")
    assert res.exit_code == 0 and "stopped at 2/4: continue with --resume" in res.output
    res = _cli("train", cfg_path, "--out", run, "--resume")
    assert res.exit_code == 0 and f"run {run}: " in res.output and "stopped" not in res.output
    res = _cli("train", cfg_path, "--out", run, "--resume")
    assert res.exit_code == 0 and "is finished (4/4 steps): raise steps" in res.output
    cfg_path.write_text(dump_yaml(tiny().model_copy(update={"steps": 6})))
    assert _cli("train", cfg_path, "--out", run, "--resume").exit_code == 0
    assert [r["step"] for r in metrics(run)] == list(range(1, 7))
    assert yaml.safe_load((run / "config.yaml").read_text())["steps"] == 6
    res = _cli("train", cfg_path, "--out", tmp_path / "r2", "--device", "tpu")
    assert res.exit_code == 2 and len(_lines(res)) == 1 and "unknown device" in res.output
    assert not (tmp_path / "r2").exists()
    res = _cli("train", cfg_path, "--out", tmp_path / "r3", "--stop-after", "0")
    assert res.exit_code == 2 and len(_lines(res)) == 1 and "--stop-after" in res.output


# 3: numeric config fields, one line naming the key
@pytest.mark.parametrize("patch,key", [
    ({"steps": 0}, "'steps'"), ({"sample_rate": 0}, "'sample_rate'"), ({"checkpoint_every": 0}, "'checkpoint_every'"),
    ({"data": {"batch_size": 0}}, "'data.batch_size'"), ({"data": {"batch_size": -1}}, "'data.batch_size'"),
    ({"data": {"num_workers": -1}}, "'data.num_workers'"), ({"data": {"segment_seconds": 0}}, "'data.segment_seconds'"),
    ({"generator_opt": {"lr": 0}}, "'generator_opt.lr'"), ({"critic_opt": {"lr": -1e-4}}, "'critic_opt.lr'"),
    ({"critic_opt": {"betas": [0.5, 1.5]}}, "'critic_opt.betas'"), ({"adversarial": {"ema_decay": 1.0}},
                                                                    "'adversarial.ema_decay'"),
    ({"adversarial": {"unrolled_lr": 0}}, "'adversarial.unrolled_lr'"),
    ({"adversarial": {"clip_value": -0.01}}, "'adversarial.clip_value'")])
def test_numeric_config_fields_are_validated(tmp_path, patch, key):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(patch))
    with pytest.raises(ConfigError, match=f"bad value for {key}") as err:
        load_config(path, AudioTrainConfig)
    assert "\n" not in str(err.value) and str(path) in str(err.value)


# 11: paired data reads every (clean, degraded) folder pair
def test_paired_data_reads_every_folder_pair(tmp_path):
    rng = np.random.default_rng(0)
    folders = {}
    for pair in ("a", "b"):
        for kind in ("clean", "degraded"):
            folders[pair, kind] = tmp_path / pair / kind
            folders[pair, kind].mkdir(parents=True)
        for i in range(2):
            x = synth_utterance(0.3, SR, rng)
            sf.write(folders[pair, "clean"] / f"u{i}.wav", x, SR)
            sf.write(folders[pair, "degraded"] / f"u{i}.wav", x * 0.5, SR)
    cfg = tiny(mode="paired", clean=[str(folders["a", "clean"]), str(folders["b", "clean"])],
               degraded=[str(folders["a", "degraded"]), str(folders["b", "degraded"])])
    data = EnhancementDataset(cfg.data, SR, 0)
    assert len(data.clean) == len(data.degraded) == 4 and not data.report.problems
    with pytest.raises(ConfigError, match="'data.degraded': must pair with clean"):
        parse_config({"data": {"mode": "paired", "clean": ["a", "b"], "degraded": ["c"]}}, AudioTrainConfig)


# 5: evaluate compares only files that every system scored
def _eval_folders(tmp_path, n=3):
    clean, test, enh = tmp_path / "clean", tmp_path / "test" / "noise", tmp_path / "enh" / "noise"
    for d in (clean, test, enh):
        d.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        ref = synth_utterance(0.5, SR, rng)
        sf.write(clean / f"u{i}.wav", ref, SR)
        sf.write(test / f"u{i}.wav", ref + 0.1 * rng.standard_normal(len(ref)), SR)
        sf.write(enh / f"u{i}.wav", ref + 0.02 * rng.standard_normal(len(ref)), SR)
    return clean, test.parent, enh.parent


def _cheap_measure(x, ref):
    from audiogan.audio.evaluate.metrics import si_sdr

    n = min(len(x), len(ref))
    return {"si_sdr": si_sdr(x[:n], ref[:n])}


def test_evaluate_compares_the_same_files_and_fails_when_none(tmp_path, monkeypatch):
    import audiogan.audio.evaluate.report as report

    monkeypatch.setattr(report, "measure", _cheap_measure)
    clean, test, enh = _eval_folders(tmp_path)
    (enh / "noise" / "u1.wav").write_text("broken")  # the enhanced system fails on one file
    ev = evaluate_folders(clean, {"input": test, "enhanced": enh})
    assert ev.counts == {"noise": 2, "all": 2} and list(ev.failures) == ["noise/u1.wav"]
    res = _cli("evaluate", "--clean", clean, "--test", test, "--enhanced", enh)
    assert res.exit_code == 0 and "left out noise/u1.wav" in res.output
    empty = tmp_path / "empty"
    empty.mkdir()
    res = _cli("evaluate", "--clean", clean, "--test", test, "--enhanced", empty)
    assert res.exit_code == 2 and len(_lines(res)) == 1 and "no file was scored by every system" in res.output


def test_evaluate_plots_name_file_family_scores_on_one_scale(tmp_path, monkeypatch):
    import audiogan.audio.evaluate.plots as plots
    import audiogan.audio.evaluate.report as report

    monkeypatch.setattr(report, "measure", _cheap_measure)
    figures = []
    real = plots.spectrogram_figure
    monkeypatch.setattr(plots, "spectrogram_figure", lambda *a, **k: figures.append(real(*a, **k)) or figures[-1])
    clean, test, enh = _eval_folders(tmp_path, n=1)
    evaluate_folders(clean, {"input": test, "enhanced": enh}, plot_dir=tmp_path / "plots")
    fig = figures[0]
    assert "noise/u0.wav" in fig._suptitle.get_text() and "family noise" in fig._suptitle.get_text()
    titles = [ax.get_title() for ax in fig.axes if ax.images]
    assert titles[0] == "clean" and titles[1].startswith("input: SI-SDR") and titles[2].startswith("enhanced: SI-SDR")
    assert len({ax.images[0].get_clim() for ax in fig.axes if ax.images}) == 1  # one colour scale
    assert any("dB" in ax.get_ylabel() for ax in fig.axes if not ax.images)  # the colour bar
    assert (tmp_path / "plots" / "noise" / "u0.png").stat().st_size > 0


# README / corpus: band-limited "clean" voices are reported when rendered
def test_band_limited_voice_warns_at_render_time(tmp_path, monkeypatch, caplog):
    import audiogan.audio.corpus.render as render

    def eight_khz(text, out, rng):
        sf.write(out, 0.5 * np.sin(np.arange(8000) * 0.2).astype(np.float32), 8000)

    monkeypatch.setattr(render, "renderers", lambda split: [render.Renderer("flite:kal", eight_khz)])
    with caplog.at_level(logging.WARNING):
        render.make_corpus(tmp_path, minutes=0.05, sample_rate=16000, split="eval")
    assert caplog.text.count("flite:kal renders at 8000 Hz") == 1 and "nothing above 4 kHz" in caplog.text
    assert "(eval split)" in caplog.text


def test_numbers_in_the_gan_core_configs():
    from audiogan.gan import AdversarialConfig, OptimizerConfig

    for bad in ({"lr": 0.0}, {"eps": 0.0}, {"weight_decay": -1.0}, {"betas": (1.0, 0.9)}, {"total_steps": -1}):
        with pytest.raises(ValueError, match=f"^{next(iter(bad))} must be"):
            OptimizerConfig(**bad)
    for bad in ({"fargan_count": -1}, {"max_grad_norm": 0.0}, {"mmd_bandwidths": ()}, {"unrolled_steps": -1}):
        with pytest.raises(ValueError, match=f"^{next(iter(bad))} must be"):
            AdversarialConfig(**bad)
