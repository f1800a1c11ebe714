"""Real codecs through their command-line tools: codec2 (Debian codec2), Opus (opus-tools), MP3 (lame).

Each encodes and decodes in a temporary folder and lines the result up with the input (codec delay).
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from ...errors import ToolError
from ..data.io import resample
from ..data.signal import fit_length
from .base import lerp


def _envelope(x: np.ndarray, width: int = 32) -> np.ndarray:
    env = np.convolve(np.abs(x), np.ones(width) / width, mode="same")
    return env - env.mean()


def align(y: np.ndarray, x: np.ndarray, max_lag: int = 2048) -> np.ndarray:
    """Shift ``y`` to line up with ``x`` (codec delays), by the peak of the cross-correlation of their
    amplitude envelopes: robust to parametric codecs (codec2) that do not keep the waveform's phase."""
    n = len(x)
    size = 1 << int(np.ceil(np.log2(2 * n + 1)))
    corr = np.fft.irfft(np.fft.rfft(_envelope(y), size) * np.conj(np.fft.rfft(_envelope(x), size)), size)
    lags = np.concatenate([np.arange(0, max_lag + 1), np.arange(-max_lag, 0)])
    lag = int(lags[np.argmax(corr[lags])])
    if lag > 0:
        y = y[lag:]
    elif lag < 0:
        y = np.concatenate([np.zeros(-lag, dtype=np.float32), y])
    return fit_length(y, n)


def _run(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True)
    if proc.returncode != 0:
        raise ToolError(f"{cmd[0]} failed: {proc.stderr.decode(errors='replace').strip()[:200]}")


CODEC2_MODES = ("3200", "2400", "1600", "1400", "1300", "1200", "700C")


def codec2(x: np.ndarray, sr: int, rng: np.random.Generator, strength: float) -> np.ndarray:
    """Codec2 at a mode from 3200 bit/s (mild) to 700C (severe); runs at 8 kHz."""
    idx = int(round(lerp(0, len(CODEC2_MODES) - 1, strength + rng.uniform(-0.15, 0.15))))
    mode = CODEC2_MODES[int(np.clip(idx, 0, len(CODEC2_MODES) - 1))]
    pcm = (np.clip(resample(x, sr, 8000), -1, 1) * 32767).astype("<i2")
    with tempfile.TemporaryDirectory() as d:
        raw, bit, out = Path(d, "in.raw"), Path(d, "c.bit"), Path(d, "out.raw")
        raw.write_bytes(pcm.tobytes())
        _run(["c2enc", mode, str(raw), str(bit)])
        _run(["c2dec", mode, str(bit), str(out)])
        y = np.frombuffer(out.read_bytes(), dtype="<i2").astype(np.float32) / 32768
    return align(resample(y, 8000, sr), x)


def opus(x: np.ndarray, sr: int, rng: np.random.Generator, strength: float) -> np.ndarray:
    """Opus at 16 kbit/s (mild) down to 6 kbit/s (severe)."""
    kbps = lerp(16, 6, strength + rng.uniform(-0.1, 0.1))
    with tempfile.TemporaryDirectory() as d:
        wav, enc, out = Path(d, "in.wav"), Path(d, "c.opus"), Path(d, "out.wav")
        sf.write(wav, x, sr, subtype="PCM_16")
        _run(["opusenc", "--quiet", "--bitrate", f"{max(kbps, 6):.1f}", str(wav), str(enc)])
        _run(["opusdec", "--quiet", "--rate", str(sr), str(enc), str(out)])
        y, _ = sf.read(out, dtype="float32", always_2d=True)
    return align(y[:, 0], x)


def mp3(x: np.ndarray, sr: int, rng: np.random.Generator, strength: float) -> np.ndarray:
    """MP3 (LAME) at 32 kbit/s (mild) down to 8 kbit/s (severe)."""
    rates = (32, 24, 16, 8)
    kbps = rates[int(np.clip(round(lerp(0, 3, strength + rng.uniform(-0.15, 0.15))), 0, 3))]
    with tempfile.TemporaryDirectory() as d:
        wav, enc, out = Path(d, "in.wav"), Path(d, "c.mp3"), Path(d, "out.wav")
        sf.write(wav, x, sr, subtype="PCM_16")
        _run(["lame", "--quiet", "-b", str(kbps), str(wav), str(enc)])
        _run(["lame", "--quiet", "--decode", str(enc), str(out)])
        y, ysr = sf.read(out, dtype="float32", always_2d=True)
    return align(resample(y[:, 0], ysr, sr), x)


