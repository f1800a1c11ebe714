"""Enhancing a file in segments on the generator's frame grid: constant memory, result equal to whole-file
processing, written to a temporary file and renamed."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Iterator

import numpy as np

from ...checkpoint import atomic_write, check_output_file
from ...errors import AudioError
from ..data.io import AudioInfo, output_format, read_audio_info, sound_writer
from .enhancer import Enhancer, drift_note, split_drift

log = logging.getLogger(__name__)


def _segments(fin, source: Path, total: int, seg: int, pad: int) -> Iterator[tuple[int, np.ndarray, slice]]:
    """``(start, block, keep)`` per segment: ``block`` holds the segment with ``pad`` frames of context each
    side (fewer at the ends), and ``block[keep]`` is the segment itself."""
    import soundfile as sf

    for start in range(0, total, seg):
        lo, hi = max(0, start - pad), min(total, start + seg + pad)
        try:
            fin.seek(lo)
            block = fin.read(hi - lo, dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError) as err:  # a damaged file (a FLAC with a bad CRC)
            raise AudioError(f"{source}: cannot read audio ({str(err).split(':')[-1].strip()})") from None
        if len(block) != hi - lo:
            raise AudioError(f"{source}: truncated (expected {total} frames, read fewer)")
        yield start, block, slice(start - lo, start - lo + min(seg, total - start))


def _peaks(source: Path, info: AudioInfo, seg: int, pad: int) -> tuple[np.ndarray, np.ndarray]:
    """Per channel, the peaks of the whole file's audio band and of its drift (:func:`split_drift`): the first
    of the two passes, so that every segment is brought to the same level."""
    import soundfile as sf

    band_peak, drift_peak = np.zeros(info.channels), np.zeros(info.channels)
    with sf.SoundFile(str(source)) as fin:
        for _, block, keep in _segments(fin, source, fin.frames, seg, pad):
            if not np.isfinite(block).all():
                raise AudioError(f"{source}: input contains NaN or Inf samples")
            band, drift = split_drift(block, info.sample_rate)
            band_peak = np.maximum(band_peak, np.abs(band[keep]).max(axis=0))
            drift_peak = np.maximum(drift_peak, np.abs(drift[keep]).max(axis=0))
    return band_peak, drift_peak


def enhance_file(enhancer: Enhancer, source: str | Path, output: str | Path, batch_size: int = 4,
                 segment_seconds: float = 30.0, pad_seconds: float = 1.0, notes: list[str] | None = None) -> Path:
    """Enhance one file into ``output``, keeping rate, channels, format and subtype, at constant memory.

    The file is read twice in segments of ``segment_seconds``: first for the peaks of its audio band and
    drift (so that every segment is brought to the same level, see :class:`Enhancer`), then to enhance
    it. Each segment is read with ``pad_seconds`` of context on both sides (more than the drift filter,
    the resamplers' filters and the generator's receptive field need) and only its centre is written, so
    the result matches processing the whole file at once while memory stays bounded by the segment size.
    On CUDA a segment is made at least ``batch_size`` chunks long, so that each forward gets a full batch
    (a 30 s segment holds 4 chunks of the shipped model: a larger batch would never fill); on CPU larger
    batches gain nothing, and the segments keep their size.
    The output goes to a temporary file renamed at the end: a failure never leaves a partial file or
    destroys an existing one. An output path equal to the input is refused. A removed DC offset or drift
    within 20 dB of the audio's peak is logged as a warning, or appended to ``notes`` when given (a folder
    run counts them in its summary instead of warning once per file).

    Raises:
        AudioError: the input is not usable audio (the message names it) or the output is a folder.
        OSError: the output cannot be written (a full or read-only disk); the message names the output
            and the cause.
    """
    import soundfile as sf

    source, output = Path(source), Path(output)
    info = read_audio_info(source)
    if output.resolve() == source.resolve():
        raise AudioError(f"{output}: output would overwrite the input")
    check_output_file(output, AudioError)
    fmt, subtype = output_format(output, source, info)
    sr = info.sample_rate
    if enhancer.device.type == "cuda":
        segment_seconds = max(segment_seconds, batch_size * enhancer.config.chunk_seconds)
    # Segment starts must land on the generator's frame grid at the model's rate, or each segment
    # would be analysed on a shifted grid: a start ``lo`` maps to ``lo * msr / sr`` model samples, which
    # must be a multiple of the hop, so ``lo`` steps in units of ``hop * sr / gcd(hop * sr, msr)``.
    hop_sr = enhancer.config.generator.hop * sr
    unit = hop_sr // math.gcd(hop_sr, enhancer.sample_rate)
    seg = max(1, math.ceil(segment_seconds * sr / unit)) * unit
    pad = math.ceil(pad_seconds * sr / unit) * unit
    band_peak, drift_peak = _peaks(source, info, seg, pad)
    if note := drift_note(band_peak, drift_peak):
        if notes is None:
            log.warning(f"{source}: {note}")
        else:
            notes.append(note)

    def write(tmp: Path) -> None:
        with sf.SoundFile(str(source)) as fin, sound_writer(tmp, output, sr, info.channels, subtype,
                                                            fmt) as fout:
            for _, block, keep in _segments(fin, source, fin.frames, seg, pad):
                try:
                    y = enhancer(block, sr, batch_size=batch_size, peak=band_peak)[keep]
                except AudioError as err:
                    raise AudioError(f"{source}: {err}") from None
                if not subtype.startswith(("FLOAT", "DOUBLE")):
                    y = np.clip(y, -1.0, 1.0)
                fout.write(y)

    atomic_write(output, write)
    return output
