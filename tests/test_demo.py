"""``audiogan demo``: its handlers called directly (upload limits, bad uploads in one line, degrade, enhance
through the CLI's streamed path, scores, the live 2-D run), the page's error translation and API through
gradio_client (skipped without the ``demo`` extra), and the command's one-line refusals.

The real browser test is tests/test_demo_browser.py. DNSMOS is stubbed here (its ONNX model costs seconds to
load); the browser test scores for real.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from audiogan.audio.enhance.enhancer import Enhancer
from audiogan.audio.enhance.stream import enhance_file
from audiogan.cli import app
from audiogan.demo.handlers import (NO_DEGRADATION, Demo, Limits, check_upload, degradation_choices,
                                    error_message, model_choices)
from audiogan.errors import AudioError, ConfigError, UserError

SR = 16000


@pytest.fixture(autouse=True)
def _stub_dnsmos(monkeypatch):
    from audiogan.audio.evaluate import metrics

    monkeypatch.setattr(metrics, "dnsmos", lambda x: 3.0 + float(np.abs(x).mean()))


@pytest.fixture()
def demo(tmp_path, tiny_model_dir):
    state = Demo({"tiny": tiny_model_dir}, Limits(max_mb=1.0, max_seconds=5.0), workdir=tmp_path / "work")
    yield state
    state.close()


@pytest.fixture()
def upload(tmp_path, speech):
    """A 1 s speech upload in a folder standing for Gradio's upload cache."""
    folder = tmp_path / "gradio-cache" / "f00d"
    folder.mkdir(parents=True)
    path = folder / "hello.wav"
    sf.write(path, speech, SR, subtype="PCM_16")
    return path


def _one_line_naming(err: BaseException, name: str, *hidden) -> str:
    text = str(err)
    assert "\n" not in text and "Traceback" not in text
    assert name in text
    for path in hidden:
        assert str(path) not in text, text
    return text


def test_enhance_takes_the_cli_path_and_scores_without_reference(demo, upload, tiny_model_dir, tmp_path):
    result = demo.enhance(upload, "tiny")
    assert result.input_audio == upload  # nothing degraded: the upload itself is what was enhanced
    y, sr = sf.read(result.output_audio, dtype="float32")
    assert sr == SR and len(y) == sf.info(str(upload)).frames
    assert sf.info(str(result.output_audio)).subtype == "PCM_16"  # the input's subtype, as the CLI keeps it
    expected = tmp_path / "cli.wav"
    enhance_file(Enhancer.from_pretrained(tiny_model_dir), upload, expected)
    np.testing.assert_array_equal(y, sf.read(expected, dtype="float32")[0])
    assert result.spectrogram.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    s = result.scores
    assert s["model"] == "tiny" and s["seconds"] == pytest.approx(1.0) and s["reference"] is None
    assert set(s["input"]) == {"dnsmos"} and set(s["enhanced"]) == {"dnsmos"}  # no reference: no PESQ


def test_degradation_applied_here_is_the_reference(demo, upload):
    pytest.importorskip("pesq")
    pytest.importorskip("pystoi")
    result = demo.enhance(upload, "tiny", degradation="noise", strength=0.8, seed=3)
    assert result.input_audio != upload and result.input_audio.parent.parent == demo.workdir
    degraded = sf.read(result.input_audio, dtype="float32")[0]
    clean = sf.read(upload, dtype="float32")[0]
    assert degraded.shape == clean.shape and np.abs(degraded - clean).max() > 0.01
    s = result.scores
    assert s["reference"] == "the upload before the degradation"
    assert s["degradation"] == {"name": "noise", "strength": 0.8, "seed": 3}
    for row in ("input", "enhanced"):
        assert {"dnsmos", "pesq", "stoi", "si_sdr"} <= set(s[row])
    again = demo.enhance(upload, "tiny", degradation="noise", strength=0.8, seed=3)
    np.testing.assert_array_equal(sf.read(again.input_audio)[0], degraded)  # seeded


def test_uploaded_reference_is_scored_against(demo, upload):
    result = demo.enhance(upload, "tiny", reference=upload)
    s = result.scores
    assert s["reference"] == "uploaded"
    assert s["input"]["si_sdr"] > 60  # the input is its own reference
    assert s["enhanced"]["si_sdr"] < s["input"]["si_sdr"]


def test_uploads_over_the_limits_are_refused_in_one_line(tmp_path, tiny_model_dir, upload):
    long = upload.parent / "long.wav"
    sf.write(long, np.zeros(6 * 8000, np.float32), 8000, subtype="PCM_16")  # 96 kB: under the 0.1 MB below
    with pytest.raises(AudioError, match=r"6\.0 s is over the demo's limit of 5 s \(audiogan demo --max-seconds\)"):
        check_upload(long, Limits(max_seconds=5))
    big = upload.parent / "big.wav"
    sf.write(big, np.zeros(4 * SR, np.float32), SR, subtype="FLOAT")  # 256 kB
    with pytest.raises(AudioError, match=r"MB is over the demo's limit of 0.1 MB \(audiogan demo --max-mb\)"):
        check_upload(big, Limits(max_mb=0.1))
    state = Demo({"tiny": tiny_model_dir}, Limits(max_mb=0.1, max_seconds=5), workdir=tmp_path / "w")
    for path, needle in ((long, "--max-seconds"), (big, "--max-mb")):
        with pytest.raises(AudioError) as info:
            state.enhance(path, "tiny")
        assert needle in _one_line_naming(info.value, path.name, path.parent, state.workdir)
    with pytest.raises(AudioError) as info:  # a clean reference is held to the same limits
        state.enhance(upload, "tiny", reference=long)
    assert "long.wav: 6.0 s" in str(info.value)
    with pytest.raises(ConfigError, match="--max-mb"):
        Limits(max_mb=0)


def test_bad_uploads_get_the_clis_one_line(demo, upload):
    folder = upload.parent
    (folder / "text.wav").write_text("this is not audio\n" * 50)
    (folder / "empty.wav").write_bytes(b"")
    sf.write(folder / "zero.wav", np.zeros(0, np.float32), SR)
    x = np.zeros(SR, np.float32)
    x[100] = np.nan
    sf.write(folder / "nan.wav", x, SR, subtype="FLOAT")
    cases = {"text.wav": "not readable audio", "empty.wav": "not readable audio", "zero.wav": "no samples",
             "nan.wav": "input contains NaN", "missing.wav": "no such file"}
    for name, needle in cases.items():
        with pytest.raises(AudioError) as info:
            demo.enhance(folder / name, "tiny")
        text = _one_line_naming(info.value, name, folder, demo.workdir)
        assert needle in text, text
    with pytest.raises(AudioError, match="no audio: upload a file or record one first"):
        demo.enhance(None, "tiny")
    assert list(demo.workdir.iterdir()) == []  # a refused request leaves no files behind


def test_unknown_choices_are_refused(demo, upload):
    with pytest.raises(UserError, match="unknown model 'nope'; valid: tiny"):
        demo.enhance(upload, "nope")
    with pytest.raises(UserError, match="unknown degradation 'nope'"):
        demo.enhance(upload, "tiny", degradation="nope")
    with pytest.raises(UserError, match=r"strength must be in \[0, 1\]"):
        demo.enhance(upload, "tiny", degradation="noise", strength=2)
    with pytest.raises(UserError, match="seed must be >= 0"):
        demo.enhance(upload, "tiny", degradation="noise", seed=-1)
    with pytest.raises(UserError, match="strength and seed must be numbers"):
        demo.enhance(upload, "tiny", strength="loud")
    assert demo.enhance(upload, "tiny", seed=None).scores["model"] == "tiny"  # an emptied Seed box


def test_choices(tiny_model_dir):
    from audiogan.audio.enhance.enhancer import DEFAULT_MODEL

    shipped = model_choices()
    assert DEFAULT_MODEL in shipped
    both = model_choices([tiny_model_dir])
    assert list(both)[-1] == str(tiny_model_dir) and DEFAULT_MODEL in both
    with pytest.raises(ConfigError, match="--model .*: not a model folder"):
        model_choices([tiny_model_dir.parent / "nowhere"])
    assert Demo(both, default=str(tiny_model_dir)).default_model == str(tiny_model_dir)
    assert Demo(shipped).default_model == DEFAULT_MODEL
    names = degradation_choices()
    assert names[0] == NO_DEGRADATION and "noise" in names and "babble" not in names  # babble needs other talkers


def test_error_message_is_the_clis_line():
    import errno

    assert error_message(AudioError("x.wav: not readable audio\nmore")) == "x.wav: not readable audio"
    disk = OSError(errno.ENOSPC, "No space left on device", "out.wav")
    assert error_message(disk) == "out.wav: No space left on device (ENOSPC)"
    bug = error_message(KeyError("oops"))
    assert bug.startswith("internal error: a bug in audiogan") and "KeyError" in bug and "\n" not in bug


@pytest.fixture()
def quick_recipe(tmp_path):
    """A 2-D recipe that trains in a second and logs every 5 iterations."""
    path = tmp_path / "quick.yaml"
    path.write_text("model: {generator_hidden: 32, critic_hidden: 32}\niterations: 15\nbatch_size: 32\nlog_every: 5\n")
    return path


def test_live_toy_run_yields_frames_then_the_final_one(demo, quick_recipe):
    frames = list(demo.toy("ring", str(quick_recipe), seed=2))
    assert [f.iteration for f in frames][-1] == 15 and frames[-1].done and not frames[0].done
    assert all(f.image.is_file() and f.total == 15 for f in frames)
    assert {"modes", "hq", "reverse_kl"} <= set(frames[-1].scores)
    assert "finished: iteration 15/15" in frames[-1].text() and "modes captured" in frames[0].text()


def test_live_toy_run_stops(demo, quick_recipe):
    stop = threading.Event()
    frames = []
    for frame in demo.toy("ring", str(quick_recipe), stop=stop):
        frames.append(frame)
        stop.set()
    assert len(frames) == 1 and not frames[0].done
    with pytest.raises(ConfigError, match="unknown data"):
        next(demo.toy("moon", str(quick_recipe)))
    with pytest.raises(ConfigError, match="iterations must be in"):
        next(demo.toy("ring", str(quick_recipe), iterations=0))


def test_train_toy_snapshots_leave_the_run_unchanged(tmp_path, quick_recipe):
    from audiogan.toy.train import train_toy

    seen = []
    with_snapshots = train_toy("grid", str(quick_recipe), 4, tmp_path / "a",
                               snapshot=lambda i, n, s: seen.append((i, n, s.shape)))
    without = train_toy("grid", str(quick_recipe), 4, tmp_path / "b")
    assert seen == [(5, 15, (2500, 2)), (10, 15, (2500, 2)), (15, 15, (2500, 2))]
    np.testing.assert_array_equal(np.load(tmp_path / "a" / "samples.npy"), np.load(tmp_path / "b" / "samples.npy"))
    assert {k: v for k, v in with_snapshots.items() if k != "wall_s"} == \
        {k: v for k, v in without.items() if k != "wall_s"}


# --- the command ------------------------------------------------------------------------------------------

def _cli(*args):
    return CliRunner().invoke(app, ["demo", *map(str, args)])


def test_command_refuses_bad_options_in_one_line(tmp_path):
    for args, needle in ((["--model", tmp_path / "nowhere"], "not a model folder"),
                         (["--max-mb", "0"], "--max-mb must be > 0"),
                         (["--device", "quantum"], "unknown device")):
        res = _cli(*args)
        assert res.exit_code == 2, res.output
        assert needle in res.output and "Traceback" not in res.output
        assert len(res.output.strip().splitlines()) == 1


def test_command_refuses_a_port_in_use(tiny_model_dir):
    import socket

    pytest.importorskip("gradio")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        res = _cli("--model", tiny_model_dir, "--port", port)
    assert res.exit_code == 2, res.output
    assert res.output.strip() == f"error: port {port} on 127.0.0.1 is in use: choose another with --port"


def test_command_without_gradio_says_how_to_install(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "gradio", None)  # import gradio raises ImportError
    res = _cli()
    assert res.exit_code == 2 and "pip install 'audiogan[demo]'" in res.output
    assert len(res.output.strip().splitlines()) == 1


# --- the page and its API (the demo extra) ------------------------------------------------------------

def test_page_errors_are_escaped_lines(monkeypatch):
    gr = pytest.importorskip("gradio")
    from audiogan.demo.app import _page_error

    err = _page_error(gr, AudioError("<img src=x onerror=alert(1)>.wav: not readable audio"))
    assert isinstance(err, gr.Error) and "<img" not in err.message and "&lt;img" in err.message
    assert _page_error(gr, ValueError("x")).message.startswith("internal error: a bug in audiogan")


@pytest.fixture()
def served(demo):
    pytest.importorskip("gradio")
    pytest.importorskip("gradio_client")
    from audiogan.demo.app import launch

    page = launch(demo, port=None, block=False)
    yield page
    page.close()


@pytest.mark.filterwarnings("ignore::DeprecationWarning:gradio")  # pandas 3 on gradio's queue
def test_the_api_that_gradio_client_calls(served, upload):
    from gradio_client import Client, handle_file

    client = Client(served.local_url, verbose=False)
    heard, enhanced, picture, scores = client.predict(handle_file(str(upload)), "tiny", "none", 0.5, 1, None,
                                                      api_name="/enhance")
    y, sr = sf.read(enhanced)
    assert sr == SR and len(y) == SR and scores["model"] == "tiny" and "dnsmos" in scores["enhanced"]
    default = client.predict(handle_file(str(upload)), api_name="/enhance")  # every other input has a default
    assert default[3]["model"] == "tiny"
    bad = upload.parent / "notes.wav"
    bad.write_text("not audio")
    with pytest.raises(Exception) as info:
        client.predict(handle_file(str(bad)), api_name="/enhance")
    assert "notes.wav: not readable audio" in str(info.value) and "Traceback" not in str(info.value)
    job = client.submit("ring", "vanilla", 100, 1, api_name="/toy")  # the page offers the shipped recipes
    outputs = list(job)
    assert outputs and "finished: iteration 100/100" in outputs[-1][1]
