import shutil

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from audiogan.audio.corpus.eval_set import make_eval_set
from audiogan.audio.corpus.importer import import_folder
from audiogan.audio.corpus.render import ESPEAK_VOICES, FLITE_VOICES, sentence
from audiogan.audio.data.synthetic import synth_utterance
from audiogan.cli import app

needs_tts = pytest.mark.skipif(not (shutil.which("flite") or shutil.which("espeak-ng")),
                               reason="flite / espeak-ng not installed (apt-get install flite espeak-ng)")


def test_sentences_vary_and_are_seeded():
    a = [sentence(np.random.default_rng(1)) for _ in range(1)]
    rng = np.random.default_rng(7)
    many = {sentence(rng) for _ in range(200)}
    assert len(many) > 150 and a == [sentence(np.random.default_rng(1))]


def test_train_and_eval_voices_are_disjoint():
    assert not set(FLITE_VOICES["train"]) & set(FLITE_VOICES["eval"])
    assert not set(ESPEAK_VOICES["train"]) & set(ESPEAK_VOICES["eval"])


@needs_tts
def test_corpus_make_cli(tmp_path):
    res = CliRunner().invoke(app, ["corpus", "make", "--out", str(tmp_path), "--minutes", "0.1"])
    assert res.exit_code == 0, res.output
    wavs = list(tmp_path.rglob("*.wav"))
    assert wavs and all(sf.info(str(w)).samplerate == 16000 for w in wavs)
    assert all(w.with_suffix(".txt").exists() for w in wavs)
    res = CliRunner().invoke(app, ["corpus", "make", "--out", str(tmp_path), "--split", "test"])
    assert res.exit_code == 2 and "valid: train, eval" in res.output


def test_import_folder_reports_bad_files(tmp_path):
    src = tmp_path / "src"
    (src / "a").mkdir(parents=True)
    sf.write(src / "a" / "x.flac", synth_utterance(0.3, 44100, np.random.default_rng(0)), 44100)
    (src / "bad.wav").write_bytes(b"nonsense" * 20)
    sf.write(src / "quiet.wav", np.zeros(8000, np.float32), 8000)
    result = import_folder(src, tmp_path / "out")
    assert result.files == 1 and (tmp_path / "out" / "a" / "x.wav").exists()
    assert sf.info(str(tmp_path / "out" / "a" / "x.wav")).samplerate == 16000
    assert set(result.problems) == {str(src / "bad.wav"), str(src / "quiet.wav")}


def test_eval_set_one_file_per_family(tmp_path):
    src = tmp_path / "clean"
    src.mkdir()
    for i in range(2):
        sf.write(src / f"u{i}.wav", synth_utterance(0.5, 16000, np.random.default_rng(i)), 16000)
    res = make_eval_set(src, tmp_path / "set", families=["noise", "band", "quant"])
    assert res.files == 2
    for fam in ("noise", "band", "quant"):
        assert sorted(p.name for p in (tmp_path / "set" / "degraded" / fam).iterdir()) == ["u0.wav", "u1.wav"]
    with pytest.raises(ValueError, match="valid"):
        make_eval_set(src, tmp_path / "x", families=["thunder"])


def test_eval_set_recorded_family_mixes_the_recordings_at_the_snr_asked(tmp_path):
    """``--noise`` adds the family ``recorded``: each clean file plus a stretch of a recording, at an SNR in the
    range (measured against the clean file once the mix's overall gain is taken out); bad options are one
    line and exit code 2."""
    src, noise = tmp_path / "clean", tmp_path / "noise"
    src.mkdir(), noise.mkdir()
    for i in range(3):
        sf.write(src / f"u{i}.wav", synth_utterance(1.0, 16000, np.random.default_rng(i)), 16000)
    sf.write(noise / "hum.wav", 0.3 * np.sin(2 * np.pi * 50 * np.arange(8000) / 16000).astype(np.float32), 16000)
    sf.write(noise / "hiss.wav", 0.1 * np.random.default_rng(9).standard_normal(24000).astype(np.float32), 16000)
    res = CliRunner().invoke(app, ["corpus", "eval-set", str(src), "--out", str(tmp_path / "set"), "--families",
                                   "recorded,quant", "--noise", str(noise), "--snr", "3,6"])
    assert res.exit_code == 0, res.output
    for i in range(3):
        clean, _ = sf.read(tmp_path / "set" / "clean" / f"u{i}.wav")
        mixed, _ = sf.read(tmp_path / "set" / "degraded" / "recorded" / f"u{i}.wav")
        scale = float(np.dot(mixed, clean) / np.dot(clean, clean))  # the set rescales each mix as a whole
        residual = mixed / scale - clean
        snr = 10 * np.log10(np.sum(clean ** 2) / np.sum(residual ** 2))
        assert 2.5 < snr < 6.5, snr
    assert sorted(p.name for p in (tmp_path / "set" / "degraded").iterdir()) == ["quant", "recorded"]
    for args, needle in ((["--families", "recorded"], "needs noise folders"),
                         (["--noise", str(noise), "--snr", "6"], "--snr must be LOW,HIGH"),
                         (["--noise", str(noise), "--snr", "6,3"], "low <= high"),
                         (["--noise", str(tmp_path / "none")], "no usable noise recording")):
        res = CliRunner().invoke(app, ["corpus", "eval-set", str(src), "--out", str(tmp_path / "bad"), *args])
        assert res.exit_code == 2 and needle in res.output, res.output
