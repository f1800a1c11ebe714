import shutil
import warnings

import numpy as np
import pytest
import soundfile as sf
import torch

from audiogan.audio.data.dataset import DataConfig, EnhancementDataset, make_loader
from audiogan.audio.data.io import load_mono, read_audio, write_audio
from audiogan.audio.degrade import codecs
from audiogan.audio.degrade import registry as D
from audiogan.errors import AudioError

SR = 16000


def _needs_tools(name):
    d = D.DEGRADATIONS[name]
    missing = any(shutil.which(t) is None for t in d.tools)  # the missing-tool path is tested below
    return pytest.param(name, marks=pytest.mark.skipif(missing, reason=f"apt-get install {d.package}"))


@pytest.mark.parametrize("name", [_needs_tools(n) for n in sorted(D.DEGRADATIONS)])
def test_each_degradation_runs_seeded_and_keeps_length(name, speech):
    d = D.DEGRADATIONS[name]
    pool = ([speech[::-1].copy()],) if d.needs_pool else ()  # babble: other talkers
    a = d.fn(speech, SR, np.random.default_rng(1), 0.6, *pool)
    b = d.fn(speech, SR, np.random.default_rng(1), 0.6, *pool)
    assert a.shape == speech.shape and a.dtype == np.float32 and np.isfinite(a).all()
    assert np.array_equal(a, b)
    assert not np.allclose(a, speech, atol=1e-4)  # it really changes the signal


def test_strength_orders_severity(speech):
    rng = lambda: np.random.default_rng(0)  # noqa: E731
    err = lambda name, s: float(np.mean((D.DEGRADATIONS[name].fn(speech, SR, rng(), s) - speech) ** 2))  # noqa: E731
    for name in ("quantize", "clipping", "noise", "bandlimit", "mulaw"):
        assert err(name, 1.0) > err(name, 0.0), name


def test_align_undoes_a_delay(speech):
    delayed = np.concatenate([np.zeros(300, np.float32), speech])[: len(speech)]
    assert np.abs(codecs.align(delayed, speech)[:-400] - speech[:-400]).max() == 0.0


def test_missing_tool_is_skipped_with_one_warning(monkeypatch):
    monkeypatch.setattr(D.shutil, "which", lambda tool: None)
    monkeypatch.setattr(D, "_warned", set())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        names = D.available(["opus", "noise"])
        D.available(["opus", "noise"])
    assert names == ["noise"]
    msgs = [str(w.message) for w in caught]
    assert len(msgs) == 1 and "apt-get install opus-tools" in msgs[0]


def test_degrade_chain_and_unknown_name(speech):
    cfg = D.DegradeConfig(names=["noise", "quantize", "clipping"], max_chain=3)
    y, chain = D.degrade(speech, SR, np.random.default_rng(3), cfg)
    assert 1 <= len(chain) <= 3 and set(chain) <= {"noise", "quantize", "clipping"}
    assert np.abs(y).max() <= 1.0 and y.shape == speech.shape
    with pytest.raises(ValueError, match="valid: codec2"):
        D.available(["wobble"])


def test_io_roundtrip_formats(tmp_path, speech):
    stereo = np.stack([speech, -speech], axis=1)
    for name, subtype in (("a.wav", "PCM_16"), ("b.flac", "PCM_24"), ("c.wav", "FLOAT")):
        write_audio(tmp_path / name, stereo, 22050, subtype=subtype)
        data, info = read_audio(tmp_path / name)
        assert data.shape == stereo.shape and info.sample_rate == 22050 and info.subtype == subtype
    assert load_mono(tmp_path / "a.wav", SR).shape == (int(round(len(speech) * SR / 22050)),)


@pytest.mark.parametrize("content,needle", [(b"", "not readable audio"), (b"not audio at all" * 10, "not readable audio")])
def test_bad_files_raise_audio_error(tmp_path, content, needle):
    p = tmp_path / "bad.wav"
    p.write_bytes(content)
    with pytest.raises(AudioError, match=needle):
        read_audio(p)
    with pytest.raises(AudioError, match="no such file"):
        read_audio(tmp_path / "missing.wav")


def test_dataset_items_are_pure_functions_of_index():
    cfg = DataConfig(mode="synthetic", synthetic_utterances=3, segment_seconds=0.25,
                     degrade=D.DegradeConfig(names=["noise", "quantize"]))
    a, b = EnhancementDataset(cfg, SR, seed=5), EnhancementDataset(cfg, SR, seed=5)
    for i in (0, 7, 12345):
        for ta, tb in zip(a[i], b[i]):
            assert torch.equal(ta, tb)
    x, y = a[0]
    assert x.shape == y.shape == (1, 4000)
    first = [t.clone() for t in next(iter(make_loader(a, start_batch=3)))]
    skipped = iter(make_loader(a, start_batch=0))
    for _ in range(3):
        next(skipped)
    for ta, tb in zip(first, next(skipped)):
        assert torch.equal(ta, tb)


def test_corpus_problems_reported_once_and_skipped(tmp_path, speech):
    root = tmp_path / "clean"
    root.mkdir()
    sf.write(root / "good.wav", speech, SR)
    sf.write(root / "rate.wav", speech[::2], 8000)  # another rate: resampled, kept
    sf.write(root / "quiet.wav", speech * 1e-6, SR)
    (root / "broken.wav").write_bytes(b"RIFF....garbage")
    cfg = DataConfig(mode="clean", clean=[str(root)], segment_seconds=0.1,
                     degrade=D.DegradeConfig(names=["noise"]))
    ds = EnhancementDataset(cfg, SR, seed=0)
    assert ds.report.loaded == 2 and set(map(lambda p: p.split("/")[-1], ds.report.problems)) == {"quiet.wav", "broken.wav"}
    assert ds.report.problems[str(root / "quiet.wav")] == "silent"


def test_data_config_validation():
    with pytest.raises(ValueError, match="needs data.clean"):
        DataConfig(mode="clean")
    with pytest.raises(ValueError, match="valid: synthetic"):
        DataConfig(mode="stream")


def test_signal_helpers(speech):
    from audiogan.audio.data.signal import fit_length, peak_normalize, rms

    x = speech * 0.3
    # The arithmetic order the corpora were made with: a change would alter every corpus by 1 LSB here and there.
    assert np.array_equal(peak_normalize(x), 0.9 * x / float(np.abs(x).max()))
    assert float(np.abs(peak_normalize(x, 0.5)).max()) == pytest.approx(0.5)
    assert np.array_equal(peak_normalize(np.zeros(4, np.float32)), np.zeros(4, np.float32))
    assert fit_length(x, 10).shape == (10,) and fit_length(x[:5], 8)[5:].tolist() == [0, 0, 0]
    assert fit_length(np.ones((3, 2)), 5).shape == (5, 2)
    assert rms(np.full(100, 0.5)) == pytest.approx(0.5)
