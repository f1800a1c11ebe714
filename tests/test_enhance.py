import os

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from audiogan.audio.enhance.enhancer import Enhancer
from audiogan.audio.enhance.folder import REPORT_NAME, enhance_folder
from audiogan.audio.enhance.stream import enhance_file
from audiogan.cli import app
from audiogan.errors import AudioError, ConfigError

SR = 16000


@pytest.fixture(scope="module")
def model_dir(tiny_model_dir):
    return tiny_model_dir


@pytest.fixture(scope="module")
def enhancer(model_dir):
    return Enhancer.from_pretrained(model_dir)


@pytest.mark.parametrize("fixture", ["tiny_model_dir", "tiny_spectral_model_dir", "tiny_phase_model_dir"])
def test_chunked_matches_whole(request, speech, fixture):
    model_dir = request.getfixturevalue(fixture)
    small = Enhancer.from_pretrained(model_dir)
    assert small.chunk < len(speech) // 4  # many chunks
    whole = Enhancer.from_pretrained(model_dir)
    whole.chunk = len(speech) + 1000
    a, b = small.enhance_mono(speech, batch_size=3), whole.enhance_mono(speech)
    assert np.abs(a - b).max() < 1e-3
    assert np.abs(a - speech).max() > 1e-3  # the model did change the signal


@pytest.mark.parametrize("shape", [(2000,), (2000, 1), (2000, 3)])
def test_shapes_and_channels(enhancer, shape):
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32) * 0.1
    y = enhancer(x, SR)
    assert y.shape == x.shape and y.dtype == np.float32
    if len(shape) == 2 and shape[1] == 3:  # each channel on its own
        np.testing.assert_allclose(y[:, 1], enhancer(x[:, 1], SR), atol=1e-6)


def test_higher_rate_keeps_content_above_model_band(model_dir, speech):
    import torch
    identity = Enhancer.from_pretrained(model_dir)
    with torch.no_grad():  # a generator whose correction is zero: output = input at the model's rate
        for p in identity.generator.decoder[-1].parameters():
            p.zero_()
    t = np.arange(48000) / 48000
    tone = (0.2 * np.sin(2 * np.pi * 15000 * t)).astype(np.float32)  # above the model's 8 kHz band
    y = identity(tone, 48000)
    assert y.shape == tone.shape
    core = slice(4800, -4800)
    assert np.abs(y[core] - tone[core]).max() < 0.02
    low = identity(np.interp(np.arange(4000) * 4, np.arange(len(speech)), speech).astype(np.float32), 4000)
    assert low.shape == (4000,)


def test_nan_input_refused(enhancer):
    x = np.zeros(100, np.float32)
    x[5] = np.nan
    with pytest.raises(AudioError, match="NaN or Inf"):
        enhancer(x, SR)


def _cli(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_file_keeps_format_and_subtype(tmp_path, model_dir, speech):
    for name, fmt, subtype in (("a.flac", "FLAC", "PCM_24"), ("b.wav", "WAV", "PCM_U8"), ("c.wav", "WAV", "FLOAT")):
        sf.write(tmp_path / name, np.stack([speech, speech], 1), 44100, format=fmt, subtype=subtype)
        res = _cli("enhance", tmp_path / name, "-o", tmp_path / f"out_{name}", "--model", model_dir)
        assert res.exit_code == 0, res.output
        i, o = sf.info(str(tmp_path / name)), sf.info(str(tmp_path / f"out_{name}"))
        assert (o.format, o.subtype, o.samplerate, o.channels, o.frames) == (i.format, i.subtype, i.samplerate, i.channels, i.frames)


def _bad_inputs(tmp_path):
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "text.wav").write_text("hello, not audio\n" * 20)
    sf.write(tmp_path / "zero.wav", np.zeros((0,), np.float32), SR)
    sf.write(tmp_path / "good.wav", 0.01 * np.sin(np.arange(1600, dtype=np.float32) * 0.3), SR)
    data = (tmp_path / "good.wav").read_bytes()
    (tmp_path / "trunc.wav").write_bytes(data[:30])
    (tmp_path / "half.wav").write_bytes(data[: len(data) // 2])  # header intact, half the samples
    nan = np.zeros(1600, np.float32)
    nan[10] = np.nan
    sf.write(tmp_path / "nan.wav", nan, SR, subtype="FLOAT")
    return {"empty.wav": "not readable audio", "text.wav": "not readable audio", "zero.wav": "no samples",
            "trunc.wav": "not readable audio", "half.wav": "truncated", "nan.wav": "nan.wav: input contains NaN",
            "missing.wav": "no such file"}


def test_bad_single_inputs_one_line_no_output(tmp_path, model_dir):
    for name, needle in _bad_inputs(tmp_path).items():
        out = tmp_path / f"out_{name}"
        res = _cli("enhance", tmp_path / name, "-o", out, "--model", model_dir)
        assert res.exit_code != 0, name
        assert needle in res.output and "Traceback" not in res.output, (name, res.output)
        assert len(res.output.strip().splitlines()) == 1
        assert not out.exists()
    good = tmp_path / "good.wav"
    before = good.read_bytes()
    res = _cli("enhance", good, "-o", good, "--model", model_dir)
    assert res.exit_code != 0 and "overwrite the input" in res.output and good.read_bytes() == before
    res = _cli("enhance", good, "-o", tmp_path / "nowhere" / "x.wav", "--model", model_dir)
    assert res.exit_code != 0 and "does not exist" in res.output
    res = _cli("enhance", good, "-o", tmp_path / "good.wav" / "x.wav", "--model", model_dir)
    assert res.exit_code != 0 and "Traceback" not in res.output
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporaries left


def test_unwritable_output_is_a_write_error(tmp_path, model_dir, monkeypatch):
    """A failure to open the temporary output (a full or read-only disk) names the output, not the input."""
    real = sf.SoundFile

    def failing(path, mode="r", *args, **kwargs):
        if mode == "w":
            raise sf.LibsndfileError(2, prefix=f"Error opening {str(path)!r}: ")
        return real(path, mode, *args, **kwargs)

    _bad_inputs(tmp_path)
    monkeypatch.setattr(sf, "SoundFile", failing)
    out = tmp_path / "out.wav"
    res = _cli("enhance", tmp_path / "good.wav", "-o", out, "--model", model_dir)
    assert res.exit_code != 0 and "cannot write audio" in res.output and str(out) in res.output
    assert len(res.output.strip().splitlines()) == 1 and not out.exists()


def test_existing_output_not_damaged_by_failure(tmp_path, model_dir):
    _bad_inputs(tmp_path)
    out = tmp_path / "keep.wav"
    out.write_bytes(b"precious")
    assert _cli("enhance", tmp_path / "text.wav", "-o", out, "--model", model_dir).exit_code != 0
    assert out.read_bytes() == b"precious"


def test_output_format_follows_its_extension(tmp_path, model_dir, speech):
    """A 16-bit wav enhanced into .flac is a 16-bit FLAC, into .ogg a Vorbis OGG, the same samples within
    what each keeps (FLAC: one 16-bit step of rounding); a name whose extension is no audio format
    (``take.v2``) holds the input's format, with a warning saying so."""
    src = tmp_path / "in.wav"
    sf.write(src, speech, SR, subtype="PCM_16")
    ref = tmp_path / "ref.wav"
    assert _cli("enhance", src, "-o", ref, "--model", model_dir).exit_code == 0
    expected, _ = sf.read(ref)
    for name, fmt, subtype, tol in (("o.flac", "FLAC", "PCM_16", 2**-15), ("o.ogg", "OGG", "VORBIS", 0.1)):
        res = _cli("enhance", src, "-o", tmp_path / name, "--model", model_dir)
        assert res.exit_code == 0, res.output
        info = sf.info(tmp_path / name)
        assert (info.format, info.subtype, info.samplerate) == (fmt, subtype, SR)
        y, _ = sf.read(tmp_path / name)
        assert y.shape == expected.shape and np.abs(y - expected).max() <= tol
    res = _cli("enhance", src, "-o", tmp_path / "take.v2", "--model", model_dir)
    assert res.exit_code == 0 and "'.v2' names no audio format we write; it holds WAV data" in res.output
    assert (sf.info(tmp_path / "take.v2").format, sf.info(tmp_path / "take.v2").subtype) == ("WAV", "PCM_16")


def test_a_device_or_pipe_as_output_is_refused_not_replaced(tmp_path, model_dir, speech):
    """The rename that makes writes atomic would replace a device (``/dev/null``) or a pipe with a regular
    file: the CLI, ``evaluate --json`` and every atomic writer refuse such a path instead, and it stays."""
    import stat

    from audiogan.checkpoint import atomic_write_text
    from audiogan.errors import UserError

    src = tmp_path / "in.wav"
    sf.write(src, speech, SR)
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    res = _cli("enhance", src, "-o", pipe, "--model", model_dir)
    assert res.exit_code == 2 and "is not a regular file" in res.output
    evaluated = _cli("evaluate", "--clean", tmp_path, "--test", tmp_path, "--json", pipe)
    assert evaluated.exit_code == 2 and "is not a regular file" in evaluated.output
    with pytest.raises(UserError, match="not a regular file"):
        atomic_write_text(pipe, "x")
    assert stat.S_ISFIFO(os.stat(pipe).st_mode)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_outputs_that_are_the_wrong_kind_of_path_are_user_errors(tmp_path, model_dir, speech):
    """A file where a folder is needed (a folder run's output, a training run), and a missing folder for
    ``evaluate --json``, are refused up front in one line with exit code 2."""
    (tmp_path / "ins").mkdir()
    sf.write(tmp_path / "ins" / "a.wav", speech, SR)
    afile = tmp_path / "afile"
    afile.write_text("keep")
    res = _cli("enhance", tmp_path / "ins", "-o", afile, "--model", model_dir)
    assert res.exit_code == 2 and "is not a folder" in res.output
    res = _cli("evaluate", "--clean", tmp_path / "ins", "--test", tmp_path / "ins", "--json",
               tmp_path / "nowhere" / "t.json")
    assert res.exit_code == 2 and "output folder does not exist" in res.output
    res = _cli("toy", "train", "--data", "ring", "--recipe", "best", "--out", afile)
    assert res.exit_code == 2 and "is not a folder" in res.output and afile.read_text() == "keep"


def test_missing_and_corrupt_model(tmp_path, model_dir, tiny_phase_model_dir):
    other_model_dir = tiny_phase_model_dir
    sf.write(tmp_path / "in.wav", np.zeros(800, np.float32) + 0.01, SR)
    res = _cli("enhance", tmp_path / "in.wav", "-o", tmp_path / "o.wav", "--model", tmp_path / "nomodel")
    assert res.exit_code == 2 and "model folder not found" in res.output
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.yaml").write_text((model_dir / "config.yaml").read_text())
    (broken / "model.safetensors").write_bytes(b"\x00" * 64)
    res = _cli("enhance", tmp_path / "in.wav", "-o", tmp_path / "o.wav", "--model", broken)
    assert res.exit_code == 2 and "cannot load weights" in res.output and "Traceback" not in res.output
    (broken / "config.yaml").write_text("generator: {channels: 9}\n")
    with pytest.raises(ConfigError):
        Enhancer.from_pretrained(broken)
    (broken / "config.yaml").write_text((model_dir / "config.yaml").read_text())
    (broken / "model.safetensors").write_bytes((other_model_dir / "model.safetensors").read_bytes())
    with pytest.raises(ConfigError, match=r"cannot load weights \(Error\(s\) in loading state_dict for \w+: "
                                          r"(Missing|Unexpected) key"):
        Enhancer.from_pretrained(broken)  # another model's weights: the message says which keys
    assert not (tmp_path / "o.wav").exists()


def test_folder_mirrors_reports_survives_and_resumes(tmp_path, model_dir, speech):
    src, dst = tmp_path / "src", tmp_path / "dst"
    (src / "a" / "b").mkdir(parents=True)
    sf.write(src / "one.wav", speech, SR)
    sf.write(src / "a" / "b" / "two.flac", speech[:5000], 22050)
    (src / "a" / "bad.wav").write_text("junk" * 50)
    sf.write(src / "dc.wav", speech * 0.5 + 0.3, SR)  # a DC offset: noted in its row, counted in the summary
    res = _cli("enhance", src, "-o", dst, "--model", model_dir, "--workers", "2")
    assert res.exit_code == 2 and "failed a/bad.wav" in res.output  # bad inputs: 2, as for one file
    assert "error: 1" not in res.output  # the exit code is not reported as an error of its own
    assert (dst / "one.wav").exists() and (dst / "a" / "b" / "two.flac").exists()
    report = (dst / REPORT_NAME).read_text().splitlines()
    assert report[0] == "path\tstatus\tdetail" and len(report) == 5
    rows = {line.split("\t")[0]: line.split("\t")[1] for line in report[1:]}
    assert rows == {"one.wav": "ok", "a/b/two.flac": "ok", "a/bad.wav": "failed", "dc.wav": "ok"}
    details = {line.split("\t")[0]: line.split("\t")[2] for line in report[1:]}
    assert details["dc.wav"].startswith("removed a DC offset") and details["one.wav"] == ""
    assert "3 enhanced (1 with a DC offset or drift removed: see the report)" in res.output
    assert "dc.wav: removed" not in res.output  # no warning per file
    stamp = os.stat(dst / "one.wav").st_mtime_ns
    again = enhance_folder(Enhancer.from_pretrained(model_dir), src, dst)
    assert again.rows["one.wav"][0] == "skipped" and os.stat(dst / "one.wav").st_mtime_ns == stamp
    with pytest.raises(AudioError, match="inside"):
        enhance_folder(Enhancer.from_pretrained(model_dir), src, src / "out")


@pytest.mark.parametrize("fixture", ["tiny_model_dir", "tiny_phase_model_dir"])
def test_streamed_file_matches_whole_array(tmp_path, request, fixture, speech):
    """Segments with context give the same output as processing the whole file in memory."""
    enh = Enhancer.from_pretrained(request.getfixturevalue(fixture))
    x = np.stack([np.tile(speech, 3), -np.tile(speech, 3)[::-1]], 1)  # ~4 s stereo
    sr = 22050
    sf.write(tmp_path / "long.wav", x, sr, subtype="FLOAT")
    enhance_file(enh, tmp_path / "long.wav", tmp_path / "seg.wav", segment_seconds=0.7, pad_seconds=0.3)
    streamed, _ = sf.read(tmp_path / "seg.wav", dtype="float32")
    whole = enh(sf.read(tmp_path / "long.wav", dtype="float32")[0], sr)
    assert streamed.shape == whole.shape
    assert np.abs(streamed - whole).max() < 1e-3


def test_precision_is_checked_before_anything_runs(tmp_path, model_dir):
    """bf16 runs on CUDA only (see the enhancer's module docstring); anything else is refused in one line."""
    with pytest.raises(ConfigError, match="CUDA device only"):
        Enhancer.from_pretrained(model_dir, precision="bf16")
    with pytest.raises(ConfigError, match="must be one of fp32, bf16"):
        Enhancer.from_pretrained(model_dir, precision="fp16")
    assert Enhancer.from_pretrained(model_dir, precision="fp32").precision == "fp32"
    sf.write(tmp_path / "in.wav", np.zeros(800, np.float32) + 0.01, SR)
    (tmp_path / "dir").mkdir()
    for args, needle in ((["--device", "cpu", "--precision", "bf16"], "CUDA device only"),
                         (["--precision", "half"], "must be one of"),
                         (["--engine", "ray", "--precision", "bf16"], "Ray actors run fp32 only")):
        source = tmp_path / ("dir" if "ray" in args else "in.wav")
        res = _cli("enhance", source, "-o", tmp_path / "o.wav", "--model", model_dir, *args)
        assert res.exit_code == 2 and needle in res.output and len(res.output.strip().splitlines()) == 1, res.output
    assert not (tmp_path / "o.wav").exists()
