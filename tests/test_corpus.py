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
