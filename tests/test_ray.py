"""The Ray engine against the local one on the same folder: same outputs (bit for bit), same report."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from audiogan.audio.enhance.enhancer import Enhancer
from audiogan.audio.enhance.folder import REPORT_NAME, enhance_folder
from audiogan.cli import app

SR = 16000


def _tree(folder: Path) -> dict[str, object]:
    """Every file under ``folder``: audio as its stored samples (a float WAV's header holds the time it was
    written, so its bytes differ between any two runs), other files as bytes."""
    tree = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if path.suffix in (".wav", ".flac"):
            info = sf.info(path)
            data, _ = sf.read(path, dtype="float64" if "FLOAT" in info.subtype or "DOUBLE" in info.subtype else "int32")
            tree[str(path.relative_to(folder))] = (info.samplerate, info.subtype, data.tobytes())
        else:
            tree[str(path.relative_to(folder))] = path.read_bytes()
    return tree


def _inputs(src: Path, speech: np.ndarray) -> None:
    (src / "sub").mkdir(parents=True)
    sf.write(src / "a.wav", speech[:8000], SR)
    sf.write(src / "sub" / "b.flac", np.stack([speech[:6000], speech[1000:7000]], 1), 22050, subtype="PCM_24")
    sf.write(src / "sub" / "c.wav", speech[:3000].astype(np.float32), 8000, subtype="FLOAT")
    (src / "bad.wav").write_bytes(b"RIFF not audio")
    (src / "sub" / "empty.wav").write_bytes(b"")


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray", reason="the ray extra is not installed")
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False,
             configure_logging=False)
    yield ray
    ray.shutdown()


def test_ray_engine_matches_the_local_engine_and_resumes(tmp_path, tiny_model_dir, speech, local_ray):
    from audiogan.audio.enhance.ray_engine import enhance_folder_ray

    src = tmp_path / "src"
    _inputs(src, speech)
    local = enhance_folder(Enhancer.from_pretrained(tiny_model_dir), src, tmp_path / "local")
    seen = []
    report = enhance_folder_ray(tiny_model_dir, src, tmp_path / "ray", actors=2,
                                progress=lambda rel, status: seen.append((rel, status)))
    assert report.rows == local.rows and report.failures == local.failures
    assert report.count("ok") == 3 and report.count("failed") == 2
    assert sorted(seen) == sorted((rel, status) for rel, (status, _) in local.rows.items())
    assert _tree(tmp_path / "ray") == _tree(tmp_path / "local")  # audio and enhance_report.tsv

    # Resume: a removed output is made again, the others are skipped, and the report says so.
    (tmp_path / "ray" / "sub" / "b.flac").unlink()
    again = enhance_folder_ray(tiny_model_dir, src, tmp_path / "ray", actors=1)
    assert again.rows["sub/b.flac"] == ("ok", "") and again.rows["a.wav"] == ("skipped", "output exists")
    assert _tree(tmp_path / "ray")["sub/b.flac"] == _tree(tmp_path / "local")["sub/b.flac"]
    assert (tmp_path / "ray" / REPORT_NAME).read_text().count("skipped") == 2


@pytest.mark.slow  # a second pool of actors: ~30 s more
def test_cli_ray_engine_reports_like_the_local_engine(tmp_path, tiny_model_dir, speech, local_ray):
    src = tmp_path / "src"
    _inputs(src, speech)
    runner = CliRunner()
    res = runner.invoke(app, ["enhance", str(src), "-o", str(tmp_path / "out"), "--model", str(tiny_model_dir),
                              "--engine", "ray", "--actors", "1"])
    assert res.exit_code == 2, res.output  # bad inputs
    assert "3 enhanced, 0 already done, 2 failed" in res.output


def test_engine_errors_are_one_line(tmp_path, tiny_model_dir, monkeypatch):
    runner = CliRunner()
    res = runner.invoke(app, ["enhance", str(tmp_path), "-o", str(tmp_path / "o"), "--engine", "spark"])
    assert res.exit_code == 2 and "--engine must be local or ray" in res.output
    wav = tmp_path / "a.wav"
    sf.write(wav, np.zeros(1600, np.float32), SR)
    res = runner.invoke(app, ["enhance", str(wav), "-o", str(tmp_path / "o.wav"), "--engine", "ray",
                              "--model", str(tiny_model_dir)])
    assert res.exit_code == 2 and "enhances a folder" in res.output
    import builtins

    real_import = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray" or name.startswith("ray."):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    res = runner.invoke(app, ["enhance", str(tmp_path), "-o", str(tmp_path / "o"), "--engine", "ray"])
    assert res.exit_code != 0 and "pip install 'audiogan[ray]'" in res.output
    assert len(res.output.strip().splitlines()) == 1
