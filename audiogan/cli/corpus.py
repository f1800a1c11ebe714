"""``audiogan corpus``: build speech corpora offline and held-out test sets."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..errors import ConfigError
from .common import FullShortHelp, err, out, report_rows, transient_progress, user_errors

corpus_app = typer.Typer(help="Build speech corpora offline: render with flite/espeak-ng, or import recordings.",
                         no_args_is_help=True, rich_markup_mode=None, cls=FullShortHelp)


@corpus_app.command("make")
def corpus_make(
    out_dir: Path = typer.Option(..., "--out", help="folder for <voice>/<n>.wav (+ .txt transcripts)"),
    minutes: float = typer.Option(10.0, min=0.01, help="minutes of speech to render"),
    split: str = typer.Option("train", help="train | eval: disjoint voices and sentences"),
    sample_rate: int = typer.Option(16000, min=8000, max=192000, help="output rate (Hz)"),
    seed: int = typer.Option(0, help="sentence seed within the split"),
) -> None:
    """Render clean speech with every installed flite voice and espeak-ng voice variants.

    Needs: apt-get install flite espeak-ng
    """
    from ..audio.corpus.render import make_corpus

    with user_errors(), transient_progress() as bar:
        task = bar.add_task("rendering", total=minutes * 60)
        result = make_corpus(out_dir, minutes, sample_rate, split, seed,
                             progress=lambda done, total: bar.update(task, completed=done))
    _corpus_report(result)


@corpus_app.command("import")
def corpus_import(
    source: Path = typer.Argument(..., help="folder of recordings (any format libsndfile or ffmpeg reads)"),
    out_dir: Path = typer.Option(..., "--out", help="destination folder (relative paths mirrored)"),
    sample_rate: int = typer.Option(16000, min=8000, max=192000, help="output rate (Hz)"),
) -> None:
    """Decode a folder of recordings to mono wav at the model's rate; bad files are reported and skipped."""
    from ..audio.corpus.importer import import_folder

    with user_errors(), transient_progress() as bar:
        task = bar.add_task("importing", total=None)
        result = import_folder(source, out_dir, sample_rate,
                               progress=lambda i, n: bar.update(task, completed=i, total=n))
    _corpus_report(result)


@corpus_app.command("eval-set")
def corpus_eval_set(
    clean: Path = typer.Argument(..., help="folder of clean speech never used in training"),
    out_dir: Path = typer.Option(..., "--out", help="writes OUT/clean/ and OUT/degraded/<family>/"),
    families: Optional[str] = typer.Option(None, help="comma-separated degradation families (default: all)"),
    max_files: Optional[int] = typer.Option(None, min=1, help="use at most this many clean files"),
    seed: int = typer.Option(0, help="seed of the degradations"),
    noise: Optional[list[Path]] = typer.Option(
        None, metavar="DIR", help="folder of noise recordings: adds the family 'recorded' (repeat for more folders)"),
    snr: str = typer.Option("0,10", help="SNR range in dB of the 'recorded' family: LOW,HIGH"),
) -> None:
    """Make a held-out test set: every clean file degraded once per degradation family."""
    from ..audio.corpus.eval_set import make_eval_set

    with user_errors():
        names = [f.strip() for f in families.split(",")] if families else None
        result = make_eval_set(clean, out_dir, seed=seed, families=names, max_files=max_files,
                               noise_dirs=[str(d) for d in noise or []], snr_db=_snr_range(snr))
    _corpus_report(result)


def _snr_range(text: str) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in text.split(","))
    except ValueError:
        raise ConfigError(f"--snr must be LOW,HIGH in dB (e.g. 0,10), got {text!r}") from None
    return low, high


def _corpus_report(result) -> None:
    out.print(f"{result.files} files, {result.seconds / 60:.1f} new minutes")
    if report_rows("skipped", result.problems.items()):
        err.print(f"{len(result.problems)} problem(s)")


@corpus_app.command("cache")
def corpus_cache(
    config: Path = typer.Argument(..., help="a training config whose data block (mode clean, paired, ...) to render"),
    out_dir: Path = typer.Option(..., "--out", help="cache folder (resumable: finished shards are kept)"),
    hours: float = typer.Option(..., help="hours of training segments to render", min=0.001),
    validation: int = typer.Option(64, help="validation segments (model selection)", min=0),
    workers: int = typer.Option(1, help="processes rendering shards in parallel", min=1),
) -> None:
    """Pre-degrade training segments once into shards on disk; train on them with data.mode: cached."""
    from ..audio.data.cache import build_cache, cache_bytes
    from ..audio.train import AudioTrainConfig
    from ..config import load_config

    with user_errors():
        cfg = load_config(config, AudioTrainConfig)
        segments = max(1, round(hours * 3600 / cfg.data.segment_seconds))
        with transient_progress() as bar:
            task = bar.add_task("caching", total=segments + validation)
            meta = build_cache(cfg.data, cfg.sample_rate, cfg.seed, out_dir, segments, validation, workers=workers,
                               progress=lambda done, total: bar.update(task, completed=done, total=total))
    out.print(f"{out_dir}: {meta['segments']} training + {meta['validation']} validation segments of "
              f"{cfg.data.segment_seconds:g} s ({meta['segments'] * cfg.data.segment_seconds / 3600:.2f} h), "
              f"{cache_bytes(out_dir) / 2 ** 20:.0f} MB")
