"""Issue 16, enhancement side: nothing lost, nothing silently damaged (DC, level, option values, exit codes,
system-error messages, file modes, stale temporaries, the folder lock, the report, -o DIR/, bad CRCs)."""

import csv
import errno
import logging
import os
import shutil
import signal
import subprocess

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from audiogan.audio.data import io as audio_io
from audiogan.audio.data.io import read_audio
from audiogan.audio.enhance.enhancer import Enhancer, split_drift
from audiogan.audio.enhance.folder import REPORT_NAME, enhance_folder
from audiogan.audio.enhance.stream import enhance_file
from audiogan.checkpoint import FolderLock, LOCK_NAME, atomic_write_text, save_weights
from audiogan.cli import app
from audiogan.errors import UserError
from audiogan.runtime import choose_threads

SR = 16000


def _cli(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def _lines(res):
    return [line for line in res.output.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def enhancer(tiny_spectral_model_dir):
    return Enhancer.from_pretrained(tiny_spectral_model_dir)


def _at_band_peak(x, peak):
    """``x`` scaled so that the peak of its audio band (what the enhancer measures) is ``peak``."""
    band, _ = split_drift(x, SR)
    return (x * (peak / np.abs(band).max())).astype(np.float32)


# 2: DC offset and sub-audio drift
@pytest.mark.parametrize("sr, channels", [(16000, 1), (44100, 2)])
def test_the_drift_filter_on_a_torch_device_equals_scipys(speech, sr, channels):
    """The FFT convolution the enhancer runs on a GPU (here on the CPU device) against scipy's overlap-add:
    the same drift to float32 precision, ends and channels included."""
    rng, n = np.random.default_rng(1), 12000
    x = np.stack([speech[:n] + 0.3 + 0.05 * np.sin(np.arange(n) / sr * 2 * np.pi * 3 * (k + 1))
                  for k in range(channels)], 1).astype(np.float32) + 0.01 * rng.standard_normal((n, channels),
                                                                                             dtype=np.float32)
    x = x[:, 0] if channels == 1 else x
    band, drift = split_drift(x, sr)
    band_t, drift_t = split_drift(x, sr, device="cpu")
    assert drift_t.shape == drift.shape == x.shape and drift_t.dtype == np.float32
    assert np.abs(drift_t - drift).max() < 1e-6 and np.abs(band_t - band).max() < 1e-6
    assert np.abs(drift).max() > 0.25  # the offset is in the drift


def test_dc_offset_and_drift_are_removed_before_the_model(enhancer, speech, caplog):
    x = _at_band_peak(speech, 0.09)
    clean = enhancer(x, SR)
    t = np.arange(len(x)) / SR
    for offset in (0.2 + 0 * t, 0.9 + 0 * t, 0.3 * np.sin(2 * np.pi * 3 * t)):  # DC 0.2, DC 0.9, a 3 Hz drift
        with caplog.at_level(logging.WARNING):
            y = enhancer((x + offset).astype(np.float32), SR)
        core = slice(SR // 10, -SR // 10)
        assert np.abs(y - clean)[core].max() < 0.02 * np.abs(clean).max()
        assert "removed a DC offset or sub-audio drift" in caplog.text
    assert np.corrcoef(enhancer(x + np.float32(0.2), SR), x)[0, 1] > 0.9


# 4: level
def test_output_level_follows_input_level(enhancer, speech):
    loud = _at_band_peak(speech, 1.0)  # the top of the range the model runs at
    y = enhancer(loud, SR)
    for k in (4.0, 1e6):  # float input above full scale comes back at its level, not quieter
        np.testing.assert_allclose(enhancer(loud * np.float32(k), SR), y * k, rtol=1e-4, atol=1e-5 * k)
    soft = _at_band_peak(speech, 0.1)  # the bottom of the range
    np.testing.assert_allclose(enhancer(soft * np.float32(0.01), SR), enhancer(soft, SR) * 0.01, rtol=1e-4, atol=1e-7)


def test_streamed_file_with_dc_and_level_matches_whole_array(tmp_path, tiny_model_dir, speech):
    enh = Enhancer.from_pretrained(tiny_model_dir)
    x = np.stack([np.tile(speech, 3) * 4 + 0.3, -np.tile(speech, 3)[::-1] * 0.01], 1).astype(np.float32)
    sf.write(tmp_path / "in.wav", x, 22050, subtype="FLOAT")
    enhance_file(enh, tmp_path / "in.wav", tmp_path / "out.wav", segment_seconds=0.7, pad_seconds=0.3)
    streamed, _ = sf.read(tmp_path / "out.wav", dtype="float32")
    whole = enh(x, 22050)
    assert np.abs(streamed - whole).max() < 1e-3 * np.abs(whole).max()


# 3: every numeric option validated, one line naming it
@pytest.mark.parametrize("args,name", [(["--batch-size", "-1"], "--batch-size"), (["--batch-size", "0"], "--batch-size"),
                                       (["--workers", "0"], "--workers"), (["--threads", "-1"], "--threads"),
                                       (["--actors", "2"], "--actors"), (["--address", "auto"], "--address")])
def test_bad_enhance_option_values_are_one_line(tmp_path, tiny_model_dir, args, name):
    sf.write(tmp_path / "in.wav", np.zeros(1600, np.float32), SR)
    res = _cli("enhance", tmp_path / "in.wav", "-o", tmp_path / "o.wav", "--model", tiny_model_dir, *args)
    assert res.exit_code == 2 and len(_lines(res)) == 1 and name in res.output and res.output.startswith("error:")
    assert not (tmp_path / "o.wav").exists()


def test_bad_batch_size_in_the_api(enhancer, tmp_path):
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        enhancer(np.zeros(1600, np.float32), SR, batch_size=0)
    for sr in (0, -5, 16000.5, "16000", True):
        with pytest.raises(UserError, match="sample rate must be a positive whole number"):
            enhancer(np.zeros(1600, np.float32), sr)
    with pytest.raises(UserError, match=r"no samples \(shape \(0, 2\)\)"):
        enhancer(np.zeros((0, 2), np.float32), SR)
    assert enhancer(np.full(1600, 0.01, np.float32), float(SR)).shape == (1600,)
    with pytest.raises(ValueError, match="workers must be >= 1"):
        enhance_folder(enhancer, tmp_path, tmp_path / "o", workers=0)


# 12 and 9: exit codes of folder runs, system errors named with their cause
def _failing_open(monkeypatch, code, after=0):
    """Writes of audio files fail with ``code`` after ``after`` bytes (a disk filling up, a read-only disk)."""
    real = open

    class Full:
        def __init__(self, fh):
            self.fh, self.n = fh, 0

        def write(self, data):
            if self.n + len(data) > after:
                raise OSError(code, os.strerror(code))
            self.n += len(data)
            return self.fh.write(data)

        def __getattr__(self, name):
            return getattr(self.fh, name)

    def fake(path, mode="r", *args, **kwargs):
        if "w" in mode and after == 0 and code != errno.ENOSPC:
            raise OSError(code, os.strerror(code), str(path))
        return Full(real(path, mode, *args, **kwargs)) if "w" in mode else real(path, mode, *args, **kwargs)

    monkeypatch.setattr(audio_io, "open", fake, raising=False)


@pytest.mark.parametrize("fmt", ["wav", "flac"])
def test_disk_full_is_a_system_error_naming_file_and_cause(tmp_path, tiny_model_dir, speech, monkeypatch, fmt):
    sf.write(tmp_path / f"in.{fmt}", speech, SR)
    _failing_open(monkeypatch, errno.ENOSPC, after=2000)
    out = tmp_path / f"out.{fmt}"
    res = _cli("enhance", tmp_path / f"in.{fmt}", "-o", out, "--model", tiny_model_dir)
    assert res.exit_code == 1 and len(_lines(res)) == 1, res.output
    assert f"{out}: cannot write: No space left on device (ENOSPC)" in res.output
    assert not out.exists() and not list(tmp_path.glob(".*tmp*"))


def test_read_only_folder_and_folder_exit_codes(tmp_path, tiny_model_dir, speech, monkeypatch):
    (tmp_path / "src").mkdir()
    sf.write(tmp_path / "src" / "a.wav", speech, SR)
    _failing_open(monkeypatch, errno.EROFS)
    res = _cli("enhance", tmp_path / "src" / "a.wav", "-o", tmp_path / "a.wav", "--model", tiny_model_dir)
    assert res.exit_code == 1 and "cannot write: Read-only file system (EROFS)" in res.output
    res = _cli("enhance", tmp_path / "src", "-o", tmp_path / "dst", "--model", tiny_model_dir)
    assert res.exit_code == 1 and "Read-only file system" in res.output  # a folder run: the worst failure


def test_bad_crc_flac_is_an_input_error_naming_the_input(tmp_path, tiny_model_dir, speech):
    sf.write(tmp_path / "good.flac", np.tile(speech, 2), SR)
    data = bytearray((tmp_path / "good.flac").read_bytes())
    for i in range(len(data) // 2, len(data) // 2 + 100):
        data[i] ^= 0x55
    (tmp_path / "bad.flac").write_bytes(bytes(data))
    out = tmp_path / "out.flac"
    res = _cli("enhance", tmp_path / "bad.flac", "-o", out, "--model", tiny_model_dir)
    assert res.exit_code == 2 and len(_lines(res)) == 1
    assert f"{tmp_path / 'bad.flac'}: cannot read audio" in res.output and "cannot write" not in res.output
    with pytest.raises(UserError, match="cannot read audio"):  # corpus import reads with read_audio
        read_audio(tmp_path / "bad.flac")
    if shutil.which("ffmpeg"):  # nor does the ffmpeg fallback accept it
        with pytest.raises(UserError):
            audio_io._read_with_ffmpeg(tmp_path / "bad.flac", RuntimeError("x"))


# 11: -o DIR/ for one input
def test_output_folder_for_one_input(tmp_path, tiny_model_dir, speech):
    sf.write(tmp_path / "in.wav", speech, SR)
    res = _cli("enhance", tmp_path / "in.wav", "-o", f"{tmp_path / 'newdir'}/", "--model", tiny_model_dir)
    assert res.exit_code == 0, res.output
    assert (tmp_path / "newdir" / "in.wav").is_file()
    res = _cli("enhance", tmp_path / "in.wav", "-o", tmp_path / "newdir", "--model", tiny_model_dir)  # exists: a folder
    assert res.exit_code == 0 and "newdir/in.wav" in res.output


# 10: the report with tabs and newlines in names
def test_report_quotes_tabs_and_newlines(tmp_path, tiny_model_dir, speech):
    src = tmp_path / "src"
    src.mkdir()
    for name in ("a\tb.wav", "c\nd.wav", "plain.wav"):
        sf.write(src / name, speech[:4000], SR)
    (src / "bad\tjunk.wav").write_text("junk" * 50)
    res = _cli("enhance", src, "-o", tmp_path / "dst", "--model", tiny_model_dir)
    assert res.exit_code == 2 and "failed bad\\tjunk.wav:" in res.output  # one line on the terminal
    with open(tmp_path / "dst" / REPORT_NAME, newline="") as fh:
        rows = list(csv.reader(fh, delimiter="\t"))
    assert rows[0] == ["path", "status", "detail"]
    assert {r[0]: r[1] for r in rows[1:]} == {"a\tb.wav": "ok", "c\nd.wav": "ok", "plain.wav": "ok",
                                              "bad\tjunk.wav": "failed"}


# 9: stale temporaries of dead processes; SIGTERM as Ctrl-C
def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_stale_temporaries_of_dead_processes_are_removed(tmp_path, tiny_model_dir, speech):
    src, dst = tmp_path / "src", tmp_path / "dst"
    (src / "sub").mkdir(parents=True)
    (dst / "sub").mkdir(parents=True)
    sf.write(src / "sub" / "a.wav", speech[:4000], SR)
    dead = dst / "sub" / f".a.wav.tmp-{_dead_pid()}"
    live = dst / "sub" / f".b.wav.tmp-{os.getppid()}"
    dead.write_bytes(b"half")
    live.write_bytes(b"being written")
    enhance_folder(Enhancer.from_pretrained(tiny_model_dir), src, dst)
    assert not dead.exists() and live.exists() and (dst / "sub" / "a.wav").exists()


def test_sigterm_is_handled_like_ctrl_c():
    from audiogan.cli.common import install_handlers

    before = signal.getsignal(signal.SIGTERM)
    try:
        install_handlers()
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGTERM)
    finally:
        signal.signal(signal.SIGTERM, before)


# Also: one run per output folder
def test_second_run_on_one_output_folder_is_refused(tmp_path, tiny_model_dir, speech):
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    dst.mkdir()
    sf.write(src / "a.wav", speech[:4000], SR)
    with FolderLock(dst):
        res = _cli("enhance", src, "-o", dst, "--model", tiny_model_dir)
        assert res.exit_code == 2 and len(_lines(res)) == 1
        assert f"in use by another audiogan run (process {os.getpid()})" in res.output
    (dst / LOCK_NAME).write_text(f"{_dead_pid()}\n")  # the lock file of a killed run: taken over
    res = _cli("enhance", src, "-o", dst, "--model", tiny_model_dir)
    assert res.exit_code == 0 and (dst / "a.wav").exists() and not (dst / LOCK_NAME).exists()


def test_threads_default_fits_the_input():
    assert choose_threads(3, 0.1) == 3
    assert choose_threads(0, 0.1) == 1 and choose_threads(0, 9.9, workers=1) == 1
    assert 1 <= choose_threads(0, 3600.0, workers=4) <= (os.cpu_count() or 1)


# 8: written files follow the umask
@pytest.mark.parametrize("mask", [0o022, 0o002])
def test_written_files_follow_the_umask(tmp_path, mask):
    import torch

    old = os.umask(mask)
    try:
        save_weights(tmp_path / "w.safetensors", {"a": torch.zeros(2)})  # safetensors itself writes 0o600
        atomic_write_text(tmp_path / "t.txt", "x")
        audio_io.write_audio(tmp_path / "a.flac", np.zeros(100, np.float32), SR)
    finally:
        os.umask(old)
    for name in ("w.safetensors", "t.txt", "a.flac"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o666 & ~mask, name


# CLI habits
def test_piped_output_is_not_wrapped_and_help_shows_flags(tmp_path, tiny_model_dir, speech):
    deep = tmp_path / ("a_rather_long_folder_name_" * 4)
    deep.mkdir()
    sf.write(deep / "in.wav", speech[:4000], SR)
    res = _cli("enhance", deep / "in.wav", "-o", deep / "out.wav", "--model", tiny_model_dir)
    assert res.exit_code == 0 and f"wrote {deep / 'out.wav'}" in res.output.splitlines()
    help_text = _cli("train", "--help").output
    assert "--resume " in help_text and "<bool>" not in help_text and "╭" not in help_text


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_folder_run_killed_then_rerun_leaves_no_temporaries(tmp_path, tiny_model_dir, speech, sig):
    """A folder run stopped by SIGTERM exits 130 with its temporaries removed; after a SIGKILL the rerun
    removes them and finishes every file."""
    import sys
    import time

    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    for i in range(8):
        sf.write(src / f"u{i}.wav", np.tile(speech, 20), SR)  # 20 s each
    cmd = [sys.executable, "-m", "audiogan", "enhance", str(src), "-o", str(dst), "--model", str(tiny_model_dir),
           "--threads", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.time() + 120
    while not list(dst.glob("*.wav")) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=120)
    if sig == signal.SIGTERM:
        assert proc.returncode == 130 and b"interrupted" in out, out
        assert not list(dst.rglob(".*.tmp-*")) and (dst / REPORT_NAME).exists()
    res = subprocess.run(cmd, capture_output=True)
    assert res.returncode == 0, res.stderr
    assert not list(dst.rglob(".*.tmp-*")) and not (dst / LOCK_NAME).exists()
    assert all(sf.info(str(dst / f"u{i}.wav")).frames == 20 * len(speech) for i in range(8))


def test_a_pipe_as_input_is_refused_without_waiting_for_it(tmp_path, tiny_model_dir):
    """The input is read twice (its peaks, then its audio), which a pipe cannot give: refused in one line,
    before anything opens it (opening a pipe with no writer would wait for ever)."""
    import sys

    os.mkfifo(tmp_path / "in.wav")
    proc = subprocess.run([sys.executable, "-m", "audiogan", "enhance", str(tmp_path / "in.wav"), "-o",
                           str(tmp_path / "o.wav"), "--model", str(tiny_model_dir)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert [line for line in proc.stderr.splitlines() if line.startswith("error:")] == [
        f"error: {tmp_path / 'in.wav'}: not a regular file (a pipe or device); save the audio to a file first"]


def test_a_stopped_folder_run_reports_the_inputs_it_did_not_reach(tmp_path, enhancer, speech):
    """Stopped after one file (Ctrl-C), a folder run's report still names every input, the ones it did not
    reach as pending; the rerun enhances them and its report holds no pending row."""
    from pathlib import Path

    from audiogan.audio.enhance.folder import folder_run

    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    for i in range(3):
        sf.write(src / f"u{i}.wav", speech, SR)

    def report():
        with open(out / REPORT_NAME, newline="") as fh:
            return {r["path"]: r["status"] for r in csv.DictReader(fh, delimiter="\t")}

    with pytest.raises(KeyboardInterrupt):
        with folder_run(src, out) as run:
            run.record(Path("u0.wav"), "failed", "stands for a finished file", "input")
            raise KeyboardInterrupt
    assert report() == {"u0.wav": "failed", "u1.wav": "pending", "u2.wav": "pending"}
    assert enhance_folder(enhancer, src, out).summary() == "3 enhanced, 0 already done, 0 failed"
    assert set(report().values()) == {"ok"}
