"""Import recordings: decode any folder (wav, flac, mp3, G.722 via ffmpeg, ...) into mono wav at the model's
rate, mirroring relative paths; unreadable or silent files are reported and skipped.

Debian's ``asterisk-core-sounds-it-g722`` and ``asterisk-core-sounds-ru-g722`` (two professional human
voices, about 50 minutes) are the real speech used for training; other system sound files are kept for
evaluation only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from ...errors import AudioError
from ..data.files import list_audio
from ..data.io import load_mono, write_audio
from ..data.signal import rms
from .result import CorpusResult


def import_folder(source: str | Path, out: str | Path, sample_rate: int = 16000,
                  progress: Callable[[int, int], None] | None = None) -> CorpusResult:
    """Decode every recording under ``source`` to mono wav at ``sample_rate`` under ``out`` (same tree)."""
    source, out = Path(source), Path(out)
    files = list_audio([str(source)])
    result = CorpusResult()
    for i, f in enumerate(files):
        dest = out / f.relative_to(source).with_suffix(".wav")
        if dest.exists():
            result.files += 1
            continue
        try:
            x = load_mono(f, sample_rate)
        except AudioError as err:
            result.problems[str(f)] = str(err)
            continue
        if rms(x) < 1e-3:
            result.problems[str(f)] = "silent"
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        write_audio(dest, x, sample_rate, subtype="PCM_16")
        result.files += 1
        result.seconds += len(x) / sample_rate
        if progress:
            progress(i + 1, len(files))
    return result
