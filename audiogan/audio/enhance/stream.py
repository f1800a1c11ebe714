"""Enhancing a file in segments on the generator's frame grid: constant memory, result equal to whole-file
processing, written to a temporary file and renamed."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ...checkpoint import atomic_write
from ...errors import AudioError
from ..data.io import read_audio_info
from .enhancer import Enhancer


def enhance_file(enhancer: Enhancer, source: str | Path, output: str | Path, batch_size: int = 4,
                 segment_seconds: float = 30.0, pad_seconds: float = 1.0) -> Path:
    """Enhance one file into ``output``, keeping rate, channels, format and subtype, at constant memory.

    The file is streamed in segments of ``segment_seconds``; each is read with ``pad_seconds`` of context
    on both sides (more than the resamplers' filters and the generator's receptive field need) and only
    its centre is written, so the result matches processing the whole file at once while memory stays
    bounded by the segment size. The output goes to a temporary file renamed at the end: a failure
    never leaves a partial file or destroys an existing one. An output path equal to the input is refused.
    """
    import soundfile as sf

    source, output = Path(source), Path(output)
    info = read_audio_info(source)
    if output.resolve() == source.resolve():
        raise AudioError(f"{output}: output would overwrite the input")
    if not output.parent.is_dir():
        raise AudioError(f"{output.parent}: output folder does not exist")
    sr = info.sample_rate
    # Segment starts must land on the generator's frame grid at the model's rate, or each segment
    # would be analysed on a shifted grid: a start ``lo`` maps to ``lo * msr / sr`` model samples, which
    # must be a multiple of the hop, so ``lo`` steps in units of ``hop * sr / gcd(hop * sr, msr)``.
    hop_sr = enhancer.config.generator.hop * sr
    unit = hop_sr // math.gcd(hop_sr, enhancer.sample_rate)
    seg = max(1, math.ceil(segment_seconds * sr / unit)) * unit
    pad = math.ceil(pad_seconds * sr / unit) * unit

    def write(tmp: Path) -> None:
        with sf.SoundFile(str(source)) as fin, sf.SoundFile(str(tmp), "w", sr, info.channels, info.subtype,
                                                           format=info.format) as fout:
            total = fin.frames
            for start in range(0, total, seg):
                lo, hi = max(0, start - pad), min(total, start + seg + pad)
                fin.seek(lo)
                block = fin.read(hi - lo, dtype="float32", always_2d=True)
                if len(block) != hi - lo:
                    raise AudioError(f"{source}: truncated (expected {total} frames, read fewer)")
                try:
                    y = enhancer(block, sr, batch_size=batch_size)
                except AudioError as err:
                    raise AudioError(f"{source}: {err}") from None
                keep = y[start - lo:start - lo + min(seg, total - start)]
                if not info.subtype.startswith(("FLOAT", "DOUBLE")):
                    keep = np.clip(keep, -1.0, 1.0)
                fout.write(keep)

    try:
        atomic_write(output, write)
    except sf.LibsndfileError as err:  # libsndfile names the file it failed on: the input or the temporary output
        if str(source) in str(err):
            raise AudioError(f"{source}: cannot read audio ({err})") from None
        raise AudioError(f"{output}: cannot write audio ({err})") from None
    except OSError as err:
        raise AudioError(f"{output}: cannot write ({err.strerror or err})") from None
    return output
