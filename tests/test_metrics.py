import math

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from audiogan.audio.data.synthetic import synth_utterance
from audiogan.audio.evaluate.metrics import log_spectral_distance, measure, si_sdr
from audiogan.audio.evaluate.report import evaluate_folders, format_evaluation
from audiogan.cli import app


EVAL_EXTRA = "needs the eval extra (pip install 'audiogan[eval]'): pesq, pystoi, speechmos"


def _needs_eval_extra():
    for name in ("pesq", "pystoi", "speechmos"):
        pytest.importorskip(name, reason=EVAL_EXTRA)


def cheap_measure(estimate, reference):
    """The folder logic's stand-in for ``measure``: the two measures written here, no PESQ/STOI/DNSMOS."""
    n = min(len(estimate), len(reference))
    return {"si_sdr": si_sdr(estimate[:n], reference[:n]),
            "lsd": log_spectral_distance(estimate[:n].astype(np.float32), reference[:n].astype(np.float32))}


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


def test_pesq_and_stoi_rank_clean_above_noisy(ref):
    """The reference packages' wrappers (PESQ wideband at 16 kHz, STOI), without DNSMOS (slow)."""
    pytest.importorskip("pesq", reason=EVAL_EXTRA)
    pytest.importorskip("pystoi", reason=EVAL_EXTRA)
    from audiogan.audio.evaluate.metrics import pesq_wb, stoi

    noisy = ref + 0.05 * np.random.default_rng(2).standard_normal(len(ref))
    assert pesq_wb(ref, ref) > 4.0 > pesq_wb(noisy, ref) > 1.0
    assert stoi(ref, ref) > 0.99 > stoi(noisy, ref)


@pytest.mark.slow
def test_measures_order_clean_above_noisy(ref):
    _needs_eval_extra()
    noisy = ref + 0.05 * np.random.default_rng(2).standard_normal(len(ref))
    clean_m, noisy_m = measure(ref, ref), measure(noisy, ref)
    assert clean_m["pesq"] > 4.0 and clean_m["stoi"] > 0.99
    for key in ("pesq", "stoi", "si_sdr"):
        assert clean_m[key] > noisy_m[key]
    assert clean_m["lsd"] < noisy_m["lsd"]
    assert 1.0 <= clean_m["dnsmos"] <= 5.0  # speechmos (eval extra) is installed with the tests


def _folders(tmp_path, ref):
    clean, test, enh = tmp_path / "clean", tmp_path / "test", tmp_path / "enh"
    rng = np.random.default_rng(3)
    for folder in (clean, test / "noise", enh / "noise"):
        folder.mkdir(parents=True)
    for i in range(2):
        sf.write(clean / f"u{i}.wav", ref, 16000)
        sf.write(test / "noise" / f"u{i}.wav", ref + 0.1 * rng.standard_normal(len(ref)), 16000)
        sf.write(enh / "noise" / f"u{i}.wav", ref + 0.02 * rng.standard_normal(len(ref)), 16000)
    return clean, test, enh


def test_evaluate_folders_groups_tables_and_cli(tmp_path, ref, monkeypatch):
    """Grouping, deltas, the table, the JSON and plots, with the two cheap measures (fast)."""
    import json

    import audiogan.audio.evaluate.report as report

    monkeypatch.setattr(report, "measure", cheap_measure)
    clean, test, enh = _folders(tmp_path, ref)
    ev = evaluate_folders(clean, {"input": test, "enhanced": enh})
    assert ev.counts == {"noise": 2, "all": 2} and not ev.failures
    assert ev.table["noise"]["enhanced"]["si_sdr"] > ev.table["noise"]["input"]["si_sdr"] + 10
    assert ev.table["all"] == ev.table["noise"]
    text = format_evaluation(ev)
    assert "| noise | 2 | enhanced |" in text and "(+" in text and "| all | 2 | input |" in text
    res = CliRunner().invoke(app, ["evaluate", "--clean", str(clean), "--test", str(test), "--enhanced", str(enh),
                                   "--plot", str(tmp_path / "plots"), "--json", str(tmp_path / "ev.json"),
                                   "--cache", str(tmp_path / "scores.jsonl")])
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "ev.json").read_text())["counts"] == {"noise": 2, "all": 2}
    assert len((tmp_path / "scores.jsonl").read_text().splitlines()) == 4
    assert sorted(p.name for p in (tmp_path / "plots").rglob("*.png")) == ["u0.png", "u1.png"]


@pytest.mark.slow
def test_evaluate_folders_with_the_real_measures(tmp_path, ref):
    _needs_eval_extra()
    clean, test, enh = _folders(tmp_path, ref)
    ev = evaluate_folders(clean, {"input": test, "enhanced": enh})
    assert ev.counts == {"noise": 2, "all": 2}
    assert ev.table["noise"]["enhanced"]["pesq"] > ev.table["noise"]["input"]["pesq"]
    text = format_evaluation(ev)
    assert "| noise | 2 | enhanced |" in text and "(+" in text
    res = CliRunner().invoke(app, ["evaluate", "--clean", str(clean), "--test", str(test), "--enhanced", str(enh),
                                   "--plot", str(tmp_path / "plots"), "--json", str(tmp_path / "ev.json")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "plots" / "noise" / "u0.png").exists() and (tmp_path / "ev.json").exists()


def test_score_cache_scores_each_file_once_by_content(tmp_path, ref, monkeypatch):
    """A second evaluation with a cache scores only what changed (a rewritten file), gives the same table,
    and ignores a line cut short by an interrupted run."""
    import audiogan.audio.evaluate.report as report

    calls = []

    def counting(x, r):
        calls.append(1)
        return cheap_measure(x, r)

    monkeypatch.setattr(report, "measure", counting)
    clean, test, enh = _folders(tmp_path, ref)
    cache = tmp_path / "scores.jsonl"
    first = evaluate_folders(clean, {"input": test, "enhanced": enh}, cache=cache)
    assert len(calls) == 4 and len(cache.read_text().splitlines()) == 4
    with open(cache, "a") as f:
        f.write('{"key": "cut sh')
    again = evaluate_folders(clean, {"input": test, "enhanced": enh}, cache=cache)
    assert len(calls) == 4 and again.table == first.table
    sf.write(enh / "noise" / "u1.wav", ref, 16000)  # new content: scored again
    changed = evaluate_folders(clean, {"input": test, "enhanced": enh}, cache=cache)
    assert len(calls) == 5 and changed.table["all"]["enhanced"] != first.table["all"]["enhanced"]
    assert changed.table["all"]["input"] == first.table["all"]["input"]
