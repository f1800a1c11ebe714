"""The command line's conventions: user errors in one line (exit 2, 1 for system errors), anything else
reported as a bug in one line (exit 3) with the traceback under --debug or AUDIOGAN_DEBUG=1."""

import pytest
from typer.testing import CliRunner

import audiogan
from audiogan.cli import app
from audiogan.errors import AudioError


def _invoke(*args, env=None):
    return CliRunner().invoke(app, list(args), env=env)


def test_version_flag_and_command():
    for args in (["--version"], ["version"]):
        res = _invoke(*args)
        assert res.exit_code == 0 and audiogan.__version__ in res.output


@pytest.fixture()
def broken_toy_train(monkeypatch):
    import audiogan.toy.train as toy_train

    def boom(*args, **kwargs):
        raise TypeError("an unexpected bug")

    monkeypatch.setattr(toy_train, "train_toy", boom)


def test_an_unexpected_error_is_reported_as_a_bug(broken_toy_train, tmp_path, monkeypatch):
    monkeypatch.delenv("AUDIOGAN_DEBUG", raising=False)
    res = _invoke("toy", "train", "--data", "ring", "--recipe", "best", "--out", str(tmp_path))
    assert res.exit_code == 3
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "internal error: a bug in audiogan" in lines[0]
    assert "TypeError: an unexpected bug" in lines[0] and "--debug" in lines[0]
    assert "Traceback" not in res.output


@pytest.mark.parametrize("how", ["flag", "env"])
def test_debug_shows_the_traceback(broken_toy_train, tmp_path, how):
    args = ["toy", "train", "--data", "ring", "--recipe", "best", "--out", str(tmp_path)]
    if how == "flag":
        res = _invoke("--debug", *args)
    else:
        res = _invoke(*args, env={"AUDIOGAN_DEBUG": "1"})
    assert res.exit_code != 0
    assert isinstance(res.exception, TypeError)  # raised through, so the traceback is printed


def test_user_errors_are_one_line_exit_2(tmp_path, monkeypatch):
    import audiogan.toy.train as toy_train

    def bad(*args, **kwargs):
        raise AudioError("x.wav: not readable audio")

    monkeypatch.setattr(toy_train, "train_toy", bad)
    res = _invoke("toy", "train", "--data", "ring", "--recipe", "best", "--out", str(tmp_path))
    assert res.exit_code == 2 and res.output.strip() == "error: x.wav: not readable audio"


def test_unknown_device_is_a_user_error(tmp_path):
    res = _invoke("enhance", "in.wav", "-o", str(tmp_path / "o.wav"), "--device", "tpu")
    assert res.exit_code == 2 and "unknown device" in res.output and "Traceback" not in res.output
    assert len(res.output.strip().splitlines()) == 1


def test_corpus_options_out_of_range_are_refused(tmp_path):
    """A sample rate of 0 or a negative duration is an option error (exit 2), not a bug or an empty corpus."""
    for option, value in (("--sample-rate", "0"), ("--minutes", "-1")):
        res = _invoke("corpus", "make", "--out", str(tmp_path / "c"), option, value)
        assert res.exit_code == 2 and option in res.output, res.output
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize("kind,module,name", [("toy", "audiogan.toy.train", "train_toy"),
                                              ("image", "audiogan.image.train", "train_image")])
def test_a_finished_toy_or_image_run_is_kept_without_overwrite(tmp_path, monkeypatch, kind, module, name):
    """``toy train`` and ``image train`` into a folder holding a finished run are refused (exit 2, nothing
    trained); ``--overwrite`` trains again."""
    import importlib

    calls = []

    def fake(*args, **kwargs):
        calls.append(args)
        raise AudioError("trained")  # stands for a run: the refusal must come before it

    monkeypatch.setattr(importlib.import_module(module), name, fake)
    (tmp_path / "metrics.json").write_text("{}")
    args = [kind, "train", "--data", "ring" if kind == "toy" else "digits", "--recipe", "best", "--out", str(tmp_path)]
    res = _invoke(*args)
    assert res.exit_code == 2 and "already holds a finished run" in res.output and calls == []
    res = _invoke(*args, "--overwrite")
    assert res.output.strip() == "error: trained" and len(calls) == 1
    assert not (tmp_path / "metrics.json").exists()  # a run stopped part-way is not taken for finished


def test_a_transient_progress_bar_leaves_nothing_when_stderr_is_not_a_terminal(tmp_path, tiny_model_dir):
    """Piped or logged, a folder run prints its summary line and no blank line before it."""
    import subprocess
    import sys

    import numpy as np
    import soundfile as sf

    (tmp_path / "in").mkdir()
    sf.write(tmp_path / "in" / "a.wav", np.full(1600, 0.01, np.float32), 16000)
    proc = subprocess.run([sys.executable, "-m", "audiogan", "enhance", str(tmp_path / "in"), "-o",
                           str(tmp_path / "out"), "--model", str(tiny_model_dir), "--threads", "1"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "" not in proc.stderr.splitlines(), proc.stderr  # no blank line
    assert proc.stdout.startswith(f"{tmp_path / 'out'}: 1 enhanced")


@pytest.mark.parametrize("group", [[], ["corpus"], ["toy"], ["image"]])
def test_command_lists_show_whole_first_clauses(group):
    """Click cuts a command's help at the column's width with "..."; the lists show its first clause whole."""
    res = _invoke(*group, "--help")
    assert res.exit_code == 0 and "..." not in res.output.split("Commands:")[1], res.output
    if not group:
        assert "  enhance           Enhance speech in a file or a folder\n" in res.output
