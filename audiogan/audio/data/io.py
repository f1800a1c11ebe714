"""Reading, writing and resampling audio.

Arrays are float32 ``(frames, channels)`` for files and ``(T,)`` for mono signals, in [-1, 1].
Everything libsndfile reads is accepted (wav, flac, ogg/vorbis/opus, mp3 with libsndfile >= 1.1);
formats it cannot read (G.722, AAC, ...) are decoded with ffmpeg when it is installed.
Writes go to a temporary file that is renamed into place, so a failed write never leaves a partial
output or destroys an existing file. They go through Python's file I/O (:func:`sound_writer`), so a full
or read-only disk is an ``OSError`` naming the file and the cause (``ENOSPC``, ``EROFS``): through a path,
libsndfile reports either as "System error.", and its FLAC writer does not report a failed write at all.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import soundfile as sf
import soxr

from ...checkpoint import atomic_write, cannot_write
from ...errors import AudioError

log = logging.getLogger(__name__)

__all__ = ["AudioError", "AudioInfo", "load_mono", "read_audio", "read_audio_info", "resample", "write_audio"]


@dataclass(frozen=True)
class AudioInfo:
    sample_rate: int
    channels: int
    format: str  # soundfile major format, e.g. "WAV", "FLAC"
    subtype: str  # e.g. "PCM_16", "FLOAT"


def _check_file(path: Path) -> None:
    if not path.exists():
        raise AudioError(f"{path}: no such file")
    if path.is_dir():
        raise AudioError(f"{path}: is a folder, not an audio file")
    if not path.is_file():  # a pipe or a device: the input is read more than once (peaks, then audio)
        raise AudioError(f"{path}: not a regular file (a pipe or device); save the audio to a file first")


_TRUNCATED = re.compile(r"^(data|SSND)\s*:\s*\d+\s*\(should be", re.MULTILINE)


def _check_complete(f: sf.SoundFile, path: Path) -> None:
    """Refuse a file whose header promises more sample data than it holds (an interrupted copy):
    libsndfile reads what is there and notes the mismatch in its log, which is checked here."""
    if _TRUNCATED.search(f.extra_info or ""):
        raise AudioError(f"{path}: truncated (the header announces more audio data than the file holds)")


def _reason(err: Exception) -> str:
    return str(err).split(":")[-1].strip() or "unknown format"


def read_audio(path: str | Path) -> tuple[np.ndarray, AudioInfo]:
    """``(samples (frames, channels) float32, info)``; raises :class:`AudioError` on unusable input.

    Formats libsndfile cannot read are decoded with ffmpeg when it is installed.
    """
    path = Path(path)
    _check_file(path)
    try:
        f = sf.SoundFile(str(path))
    except sf.LibsndfileError as err:  # a format libsndfile does not know: ffmpeg may
        data, info = _read_with_ffmpeg(path, err)
    except (RuntimeError, OSError) as err:
        raise AudioError(f"{path}: cannot read audio ({err})") from None
    else:
        with f:  # a format libsndfile knows but cannot decode is damaged (a FLAC with a bad CRC): refused
            _check_complete(f, path)
            info = AudioInfo(f.samplerate, f.channels, f.format, f.subtype)
            try:
                data = f.read(dtype="float32", always_2d=True)
            except (sf.LibsndfileError, RuntimeError) as err:
                raise AudioError(f"{path}: cannot read audio ({_reason(err)})") from None
    if data.shape[0] == 0:
        raise AudioError(f"{path}: contains no samples")
    return data, info


def read_audio_info(path: str | Path) -> AudioInfo:
    """Header of a file libsndfile can stream (rate, channels, format, subtype); checks it has samples.

    Raises :class:`AudioError` for missing, unreadable, non-audio or empty files.
    """
    path = Path(path)
    _check_file(path)
    try:
        with sf.SoundFile(str(path)) as f:
            _check_complete(f, path)
            info, frames = AudioInfo(f.samplerate, f.channels, f.format, f.subtype), f.frames
    except (sf.LibsndfileError, RuntimeError, OSError) as err:
        raise AudioError(f"{path}: not readable audio ({_reason(err)})") from None
    if frames <= 0:
        raise AudioError(f"{path}: contains no samples")
    return info


def _read_with_ffmpeg(path: Path, original: Exception) -> tuple[np.ndarray, AudioInfo]:
    reason = _reason(original)
    if shutil.which("ffmpeg") is None:
        raise AudioError(f"{path}: not readable audio ({reason})")
    # -xerror: a decoding error ends ffmpeg with an error, not with the audio it could salvage
    proc = subprocess.run(["ffmpeg", "-v", "error", "-xerror", "-nostdin", "-i", str(path), "-f", "f32le",
                           "-acodec", "pcm_f32le", "-"], capture_output=True)
    probe = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries",
                            "stream=sample_rate,channels", "-of", "csv=p=0", str(path)],
                           capture_output=True, text=True)
    if proc.returncode != 0 or probe.returncode != 0 or not probe.stdout.strip() or proc.stderr.strip():
        raise AudioError(f"{path}: not readable audio ({reason})")
    sr, channels = (int(v) for v in probe.stdout.strip().split("\n")[0].split(",")[:2])
    data = np.frombuffer(proc.stdout, dtype="<f4").reshape(-1, channels).copy()
    return data, AudioInfo(sr, channels, "WAV", "PCM_16")


def audio_seconds(paths: list[Path]) -> float:
    """The total duration of the files libsndfile can read among ``paths`` (headers only; others count 0)."""
    total = 0.0
    for p in paths:
        if not Path(p).is_file():  # opening a pipe would wait for a writer
            continue
        try:
            info = sf.info(str(p))
            total += info.frames / info.samplerate
        except (sf.LibsndfileError, RuntimeError, OSError, ZeroDivisionError):
            pass
    return total


def resample(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Resample along axis 0 with soxr (high quality); returns float32."""
    if sr_in == sr_out:
        return np.asarray(x, dtype=np.float32)
    return soxr.resample(np.asarray(x, dtype=np.float32), sr_in, sr_out, quality="HQ").astype(np.float32)


def load_mono(path: str | Path, sample_rate: int) -> np.ndarray:
    """A file as mono ``(T,)`` float32 at ``sample_rate`` (channels averaged)."""
    data, info = read_audio(path)
    return resample(data.mean(axis=1), info.sample_rate, sample_rate)


def write_audio(path: str | Path, data: np.ndarray, sample_rate: int, format: str | None = None,
                subtype: str | None = None) -> None:
    """Write ``data`` ``(T,)`` or ``(frames, channels)`` atomically with the given format and subtype.

    Samples are clipped to [-1, 1] for integer subtypes.
    """
    path = Path(path)
    data = np.asarray(data, dtype=np.float32)
    if subtype and not subtype.startswith(("FLOAT", "DOUBLE")):
        data = np.clip(data, -1.0, 1.0)
    fmt = format or _format_for(path)
    channels = 1 if data.ndim == 1 else data.shape[1]

    def write(tmp: Path) -> None:
        with sound_writer(tmp, path, sample_rate, channels, subtype, fmt) as f:
            f.write(data)

    atomic_write(path, write)


class _CheckedFile:
    """A binary file for libsndfile's virtual I/O that keeps the first ``OSError`` (and then fails every call)
    instead of letting libsndfile turn it into "System error." or ignore it."""

    def __init__(self, fh):
        self.fh, self.error = fh, None

    def _guard(self, call, fallback):
        if self.error is None:
            try:
                return call()
            except OSError as err:
                self.error = err
        return fallback

    def write(self, data) -> int:
        view = memoryview(data).cast("B")

        def write_all() -> int:
            done = 0
            while done < len(view):  # a short write (a disk filling up) is retried, to get its error
                done += self.fh.write(view[done:]) or 0
            return done

        return self._guard(write_all, 0)

    def read(self, n: int = -1) -> bytes:
        return self._guard(lambda: self.fh.read(n), b"")

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._guard(lambda: self.fh.seek(offset, whence), -1)

    def tell(self) -> int:
        return self._guard(self.fh.tell, -1)


@contextmanager
def sound_writer(path: Path, target: Path, sample_rate: int, channels: int, subtype: str | None,
                 format: str) -> Iterator[sf.SoundFile]:
    """A ``SoundFile`` writing ``path`` (a temporary file for ``target``); a failed write raises ``OSError``
    (``TARGET: cannot write: No space left on device``), an encoder error :class:`AudioError`."""
    try:
        fh = open(path, "w+b", buffering=0)
    except OSError as err:
        raise cannot_write(err, target) from None
    checked = _CheckedFile(fh)
    try:
        try:
            with sf.SoundFile(checked, "w", sample_rate, channels, subtype, format=format) as f:
                yield f
        except Exception as err:  # after a failed write, libsndfile errors and soundfile asserts follow from it
            if checked.error is None:
                if isinstance(err, sf.LibsndfileError):
                    raise AudioError(f"{target}: cannot write audio ({_reason(err)})") from None
                raise
        if checked.error is not None:
            raise cannot_write(checked.error, target)
    finally:
        fh.close()


FORMAT_BY_EXTENSION = {"wav": "WAV", "flac": "FLAC", "ogg": "OGG", "oga": "OGG", "mp3": "MP3", "aiff": "AIFF",
                       "aif": "AIFF", "w64": "W64", "rf64": "RF64", "caf": "CAF", "au": "AU"}


def output_format(output: Path, source: Path, info: AudioInfo) -> tuple[str, str]:
    """The (format, subtype) an enhanced copy of ``source`` is written in at ``output``: the format its
    extension names (``FORMAT_BY_EXTENSION``) when that differs from the input's, with the input's subtype
    where that format takes it (16-bit WAV to FLAC stays 16-bit) and the format's default otherwise (Vorbis
    for OGG); else the input's format and subtype (the same extension, none, or one that names no audio
    format, such as ``take.v2``: a warning says which format the file holds)."""
    ext = output.suffix.lower().lstrip(".")
    fmt = FORMAT_BY_EXTENSION.get(ext)
    if fmt is None or fmt == info.format:
        if ext and fmt is None and ext != source.suffix.lower().lstrip("."):
            log.warning(f"{output}: '.{ext}' names no audio format we write; it holds {info.format} data "
                        f"like its input")
        return info.format, info.subtype
    subtype = info.subtype if sf.check_format(fmt, info.subtype) else sf.default_subtype(fmt)
    return fmt, subtype


def _format_for(path: Path) -> str:
    ext = path.suffix.lower().lstrip(".")
    return FORMAT_BY_EXTENSION.get(ext, "WAV")
