import math

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from audiogan.audio.data.synthetic import synth_utterance
from audiogan.audio.evaluate.metrics import log_spectral_distance, measure, si_sdr
from audiogan.audio.evaluate.report import evaluate_folders, format_evaluation
from audiogan.cli import app


@pytest.fixture(scope="module")
def ref():
    return synth_utterance(2.0, 16000, np.random.default_rng(0)).astype(np.float64) * 0.5


def test_si_sdr_hand_cases(ref):
    assert si_sdr(3.0 * ref, ref) > 100  # scale does not matter
    rng = np.random.default_rng(1)
    noise = rng.standard_normal(len(ref))
    noise -= noise.mean()
    r = ref - ref.mean()
    noise -= np.dot(noise, r) / np.dot(r, r) * r  # orthogonal to the reference
    noise *= np.linalg.norm(r) / np.linalg.norm(noise) / 10 ** (10 / 20)  # 10 dB below
    assert si_sdr(ref + noise, ref) == pytest.approx(10.0, abs=1e-6)


def test_lsd_hand_cases(ref):
    x = np.random.default_rng(5).standard_normal(16000).astype(np.float32) * 0.1  # no empty bins
    assert log_spectral_distance(x, x) == 0.0
    assert log_spectral_distance(2 * x, x) == pytest.approx(20 * math.log10(2), abs=1e-3)


def test_measures_order_clean_above_noisy(ref):
    noisy = ref + 0.05 * np.random.default_rng(2).standard_normal(len(ref))
    clean_m, noisy_m = measure(ref, ref), measure(noisy, ref)
    assert clean_m["pesq"] > 4.0 and clean_m["stoi"] > 0.99
    for key in ("pesq", "stoi", "si_sdr"):
        assert clean_m[key] > noisy_m[key]
    assert clean_m["lsd"] < noisy_m["lsd"]
    assert 1.0 <= clean_m["dnsmos"] <= 5.0  # speechmos (eval extra) is installed with the tests


def test_evaluate_folders_groups_and_cli(tmp_path, ref):
    clean, test, enh = tmp_path / "clean", tmp_path / "test", tmp_path / "enh"
    rng = np.random.default_rng(3)
    for folder in (clean, test / "noise", enh / "noise"):
        folder.mkdir(parents=True)
    for i in range(2):
        sf.write(clean / f"u{i}.wav", ref, 16000)
        sf.write(test / "noise" / f"u{i}.wav", ref + 0.1 * rng.standard_normal(len(ref)), 16000)
        sf.write(enh / "noise" / f"u{i}.wav", ref + 0.02 * rng.standard_normal(len(ref)), 16000)
    ev = evaluate_folders(clean, {"input": test, "enhanced": enh})
    assert ev.counts == {"noise": 2, "all": 2}
    assert ev.table["noise"]["enhanced"]["pesq"] > ev.table["noise"]["input"]["pesq"]
    text = format_evaluation(ev)
    assert "| noise | 2 | enhanced |" in text and "(+" in text
    res = CliRunner().invoke(app, ["evaluate", "--clean", str(clean), "--test", str(test), "--enhanced", str(enh),
                                   "--plot", str(tmp_path / "plots"), "--json", str(tmp_path / "ev.json")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "plots" / "noise" / "u0.png").exists() and (tmp_path / "ev.json").exists()
