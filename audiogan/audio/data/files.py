"""Corpus files: listing audio under folders, and loading them with every problem reported once."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...errors import AudioError, DataError
from .io import load_mono
from .signal import rms

log = logging.getLogger(__name__)
AUDIO_EXTENSIONS = {".wav", ".flac", ".ogg", ".mp3", ".g722", ".aiff", ".aif", ".opus"}


def list_audio(sources: list[str]) -> list[Path]:
    """Audio files under the given folders (recursive) or named directly, sorted."""
    files: list[Path] = []
    for src in sources:
        p = Path(src)
        if p.is_dir():
            files += sorted(f for f in p.rglob("*") if f.suffix.lower() in AUDIO_EXTENSIONS and f.is_file())
        elif p.exists():
            files.append(p)
        else:
            raise DataError(f"{p}: no such file or folder")
    return files


@dataclass
class CorpusReport:
    loaded: int = 0
    problems: dict[str, str] = field(default_factory=dict)  # path -> reason

    def summary(self) -> str:
        return f"{self.loaded} files loaded, {len(self.problems)} skipped"


def load_corpus(files: list[Path], sr: int, min_rms: float, report: CorpusReport) -> dict[str, np.ndarray]:
    """Load every usable file as mono at ``sr``; each problem is logged once and counted in ``report``."""
    audio: dict[str, np.ndarray] = {}
    for f in files:
        try:
            x = load_mono(f, sr)
        except AudioError as err:
            report.problems[str(f)] = str(err)
            log.warning("skipped %s", err)
            continue
        if not np.isfinite(x).all():
            report.problems[str(f)] = "contains NaN or Inf samples"
            log.warning("skipped %s: contains NaN or Inf samples", f)
            continue
        if rms(x) < min_rms:
            report.problems[str(f)] = "silent"
            log.warning("skipped %s: silent (RMS below %g)", f, min_rms)
            continue
        audio[str(f)] = x
        report.loaded += 1
    return audio


