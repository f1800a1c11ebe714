"""The enhancer API: a trained generator applied to arrays; model folders load without pickle.

A model folder holds ``config.yaml`` (:class:`EnhancerConfig`), ``model.safetensors`` (the generator,
its EMA weights) and a ``README.md`` model card.

Long signals are cut into chunks processed with context on both sides (overlap-save): each chunk
reads ``context`` extra samples left and right, at least the generator's receptive field, and only its
centre is kept. Chunk starts are multiples of the generator's hop, so every chunk sees the frame grid
of whole-signal processing and the result equals it to float precision, at constant memory.

Two things the model never saw in training are dealt with per channel before it runs:

- DC and sub-audio drift are removed, and not put back: clean speech has none (the training targets'
  content below 28 Hz is about -80 dB), the trained model already took out most of it (the shipped
  sample's drift, RMS 0.018, left it at 0.003), and a DC offset it did see (0.2, with speech peaking at
  0.09) buried the speech in artefacts. The drift is the input through a linear-phase FIR low-pass
  (Blackman-windowed sinc, 0.2 s long: flat at DC, -20 dB at 20 Hz, at least 74 dB down from 28 Hz up;
  :func:`split_drift`), so everything from 28 Hz up reaches the model unchanged. The filter is local
  (an output sample depends on the input within 0.1 s), so a file streamed in segments with more
  context than that gets exactly the whole-file result, with no state to carry. Beyond the ends of the
  signal the input is continued by its mean over its first (last) 0.1 s, so a DC offset does not step
  there. Removing a drift within 20 dB of the audio's peak is reported with one warning.
- A level outside the range the model was trained at (peaks of 0.1 to 1.0: ``data.gain_db`` of -18 to
  0 dB re 0.9, plus the degradations) is brought into it: the audio band is scaled so that its peak lies
  in that range, and the output is scaled back, so the output's level follows the input's (float input
  at peak 4 or 1e6 included). An input in range is not scaled.

Precision (``precision=``): ``fp32``, the default, runs the generator in float32 (on CUDA, cuDNN may
run float32 convolutions in TF32, PyTorch's default: ``torch.backends.cudnn.allow_tf32``). ``bf16`` runs
it under CUDA autocast: convolutions in bfloat16 with float32 accumulation, while the STFT and inverse
STFT stay float32 (every generator casts its input to float32, and autocast leaves FFTs alone). bf16 is
refused with one line anywhere but on a CUDA device with native bf16 (compute capability 8.0 on: A100,
H100, H200): CPU autocast exists, but a CPU without bf16 matrix units runs it slower than fp32, and the
trainer uses bf16 on CUDA only as well (``AdversarialConfig.bf16_autocast``).

On CUDA, each batch of windows is stacked straight into page-locked (pinned) host memory, copied to the
device without blocking, and its output copied back into pinned memory the same way; one batch stays in
flight, so the host stacks the next batch while the device computes this one, and a batch's output is
read only once its CUDA event has completed. On CPU the same generator calls run on the same windows, so
the results are exactly those of a plain loop.
"""

from __future__ import annotations

import functools
import logging
from collections import deque
from contextlib import nullcontext
from dataclasses import field
from pathlib import Path

import numpy as np
import pydantic
import torch

from ...checkpoint import load_weights
from ...config import load_config
from ...errors import AudioError, ConfigError
from ...resources import models_dir
from ..data.io import resample
from ..data.signal import fit_length
from ..models import GeneratorConfig, SpectralGainConfig, make_generator

log = logging.getLogger(__name__)
DEFAULT_MODEL = "audiogan-v2-shape"
DRIFT_SECONDS = 0.1  # half-length of the drift filter: how far its output sample looks each way
DRIFT_CUTOFF_HZ = 14.0  # centre of the filter's transition band (28 Hz wide for a 0.2 s Blackman window)
LEVEL_RANGE = (0.1, 1.0)  # peaks the model runs at: inputs outside are scaled into it and back
SILENCE_PEAK = 1e-4  # quieter than this (-80 dBFS) is silence: never scaled up
DRIFT_WARNING = 0.1  # a removed drift above this fraction of the audio's peak is reported
PRECISIONS = ("fp32", "bf16")
BF16_CAPABILITY = (8, 0)  # CUDA compute capability with native bf16 tensor cores (Ampere on)
_Pending = tuple[torch.Tensor, "torch.cuda.Event | None"]  # a batch's output on the host, and its copy's event


class EnhancerConfig(pydantic.BaseModel):
    """What a model folder's config.yaml holds."""

    model_config = pydantic.ConfigDict(extra="forbid")

    name: str = "audiogan"
    sample_rate: pydantic.PositiveInt = 16000
    generator: GeneratorConfig = field(default_factory=SpectralGainConfig)
    # Samples per chunk at the model rate = chunk_seconds * sample_rate. 16 s: v2 (1 s of context each side)
    # ran 60 s of audio 30 % faster on one thread than in 8 s chunks (77-87x against 61-63x real time).
    chunk_seconds: pydantic.PositiveFloat = 16.0


@functools.lru_cache(maxsize=8)
def _drift_taps(sr: int) -> np.ndarray:
    """The drift low-pass at rate ``sr``: ``2m + 1`` taps (``m = DRIFT_SECONDS * sr``) summing to 1."""
    m = max(1, round(DRIFT_SECONDS * sr))
    t = np.arange(-m, m + 1) / sr
    taps = np.sinc(2 * DRIFT_CUTOFF_HZ * t) * np.blackman(2 * m + 1)
    return (taps / taps.sum()).astype(np.float64)


def split_drift(x: np.ndarray, sr: int, device: torch.device | str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(band, drift)`` with ``band + drift == x``: ``drift`` is the DC and sub-audio content of ``x``
    ``(T,)`` or ``(T, channels)`` at rate ``sr`` (see the module docstring); both float32, shaped like ``x``.

    ``device``: where the filter runs. ``None`` (the CPU default): scipy's overlap-add convolution. A torch
    device: one FFT convolution there in float64 (the same filter to float precision), so that on a GPU the
    filter does not hold enhancement to the host's speed (about 0.8 s per 10 minutes of audio on one core).
    """
    x = np.asarray(x, dtype=np.float32)
    taps = _drift_taps(sr)
    m = len(taps) // 2
    cols = x.reshape(len(x), -1).astype(np.float64)
    edge = min(m, len(cols))
    padded = np.concatenate([np.repeat(cols[:edge].mean(0, keepdims=True), m, 0), cols,
                             np.repeat(cols[-edge:].mean(0, keepdims=True), m, 0)])
    if device is None:
        from scipy.signal import oaconvolve

        drift = oaconvolve(padded, taps[:, None], mode="valid", axes=0)
    else:
        signal, kernel = torch.from_numpy(padded).to(device), torch.from_numpy(taps).to(device)
        n = len(padded) + len(taps) - 1
        size = 1 << (n - 1).bit_length()
        full = torch.fft.irfft(torch.fft.rfft(signal, size, dim=0) * torch.fft.rfft(kernel, size)[:, None], size, dim=0)
        drift = full[len(taps) - 1:len(padded)].cpu().numpy()  # the "valid" part, as oaconvolve's
    drift = drift.astype(np.float32).reshape(x.shape)
    return x - drift, drift


def drift_note(band_peak: np.ndarray, drift_peak: np.ndarray) -> str | None:
    """One line saying how much DC or drift :func:`split_drift` removed, when it was within 20 dB of the
    audio's peak (per channel peaks); else ``None``."""
    band_peak, drift_peak = np.atleast_1d(band_peak), np.atleast_1d(drift_peak)
    k = int(np.argmax(drift_peak / np.maximum(band_peak, SILENCE_PEAK)))
    if drift_peak[k] < max(DRIFT_WARNING * band_peak[k], SILENCE_PEAK):
        return None
    where = f" (channel {k + 1})" if len(band_peak) > 1 else ""
    return (f"removed a DC offset or sub-audio drift of up to {drift_peak[k]:.3g}{where} "
            f"(the audio peaks at {band_peak[k]:.3g})")


def level_gain(peak: float) -> float:
    """The gain that brings a signal of this peak into :data:`LEVEL_RANGE` (1 in range or for silence)."""
    if not peak >= SILENCE_PEAK:
        return 1.0
    return float(np.clip(peak, *LEVEL_RANGE) / peak)


def check_precision(precision: str, device: torch.device) -> str:
    """``precision`` when ``device`` runs it (see the module docstring); else :class:`ConfigError`, one line."""
    if precision not in PRECISIONS:
        raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "bf16":
        if device.type != "cuda":
            raise ConfigError(f"precision bf16 runs on a CUDA device only, not on {device.type}; use fp32")
        if torch.cuda.get_device_capability(device) < BF16_CAPABILITY:
            raise ConfigError(f"precision bf16 needs a GPU of compute capability 8.0 or newer; "
                              f"{torch.cuda.get_device_name(device)} has no native bf16: use fp32")
    return precision


class Enhancer:
    """A generator ready to enhance audio: ``enhancer(x, sr) -> y`` with ``y`` shaped like ``x``.

    ``precision``: ``fp32`` (default) or ``bf16`` (CUDA autocast; see the module docstring).
    """

    def __init__(self, generator: torch.nn.Module, config: EnhancerConfig, device: str | torch.device = "cpu",
                 precision: str = "fp32"):
        self.config = config
        self.device = torch.device(device)
        self.precision = check_precision(precision, self.device)
        self.generator = generator.to(self.device).eval()
        hop = config.generator.hop
        rf = config.generator.receptive_field()
        self.context = -(-rf // hop) * hop  # receptive field rounded up to the hop grid
        self.chunk = max(hop, int(config.chunk_seconds * config.sample_rate) // hop * hop)

    @classmethod
    def from_pretrained(cls, path: str | Path | None = None, device: str | torch.device = "cpu",
                        precision: str = "fp32") -> "Enhancer":
        """Load a model folder, or a model shipped in ``models/`` by name (default: the default model).

        Never unpickles anything: the config is YAML, the weights safetensors, loaded strictly.
        """
        check_precision(precision, torch.device(device))  # before the weights are read
        folder = Path(path) if path is not None else models_dir() / DEFAULT_MODEL
        if not folder.exists() and (models_dir() / str(path)).is_dir():
            folder = models_dir() / str(path)
        if not folder.is_dir():
            raise ConfigError(f"{folder}: model folder not found")
        cfg_path, weights = folder / "config.yaml", folder / "model.safetensors"
        if not cfg_path.is_file() or not weights.is_file():
            raise ConfigError(f"{folder}: not a model folder (needs config.yaml and model.safetensors)")
        config = load_config(cfg_path, EnhancerConfig)
        generator = make_generator(config.generator)
        try:
            state = load_weights(weights)
            generator.load_state_dict(state, strict=True)
        except Exception as err:  # corrupt file, or weights of another architecture
            reason = " ".join(line.strip() for line in str(err).splitlines() if line.strip())
            raise ConfigError(f"{weights}: cannot load weights ({reason[:200]})") from None
        return cls(generator, config, device, precision)

    @property
    def sample_rate(self) -> int:
        return self.config.sample_rate

    @torch.inference_mode()
    def enhance_mono(self, x: np.ndarray, batch_size: int = 4) -> np.ndarray:
        """Enhance mono ``x (T,)`` at the model's rate, chunk by chunk (see the module docstring).

        Full chunks go through the generator ``batch_size`` at a time; the last, shorter chunk is cut to
        the hop grid rather than padded to a full chunk, so short inputs cost what they are.
        """
        x = np.asarray(x, dtype=np.float32)
        n, c, hop = len(x), self.context, self.config.generator.hop
        padded = np.pad(x, (c, c + self.chunk))
        out = np.empty(n, dtype=np.float32)
        full = list(range(0, n - self.chunk + 1, self.chunk))
        groups = [(full[i:i + batch_size], self.chunk) for i in range(0, len(full), batch_size)]
        tail = len(full) * self.chunk
        if tail < n:
            groups.append(([tail], -(-(n - tail) // hop) * hop))
        in_flight: deque = deque()  # on CUDA one batch computes while the next is stacked
        for starts, size in groups:
            in_flight.append((starts, size, self._forward(padded, starts, size)))
            if len(in_flight) > 1 or self.device.type != "cuda":
                self._store(out, *in_flight.popleft())
        while in_flight:
            self._store(out, *in_flight.popleft())
        return out

    def _forward(self, padded: np.ndarray, starts: list[int], size: int) -> _Pending:
        """Start the generator on the windows at ``starts`` (``size + 2 * context`` samples each); returns the
        centres ``(len(starts), size)`` on the host and, on CUDA, the event after which they can be read."""
        c, cuda = self.context, self.device.type == "cuda"
        batch = torch.empty((len(starts), 1, size + 2 * c), pin_memory=cuda)
        np.stack([padded[s:s + size + 2 * c] for s in starts], out=batch[:, 0].numpy())
        autocast = torch.autocast("cuda", dtype=torch.bfloat16) if self.precision == "bf16" else nullcontext()
        with autocast:
            y = self.generator(batch.to(self.device, non_blocking=True))
        y = y[:, 0, c:c + size].float()
        if not cuda:
            return y.cpu(), None
        host = torch.empty(y.shape, dtype=torch.float32, pin_memory=True)
        host.copy_(y, non_blocking=True)
        done = torch.cuda.Event()
        done.record()
        return host, done

    @staticmethod
    def _store(out: np.ndarray, starts: list[int], size: int, result: _Pending) -> None:
        """Write a batch's centres into ``out`` (waiting for its copy to the host on CUDA)."""
        y, done = result
        if done is not None:
            done.synchronize()
        for s, seg in zip(starts, y.numpy()):
            out[s:s + size] = seg[: min(size, len(out) - s)]

    def __call__(self, x: np.ndarray, sr: int, batch_size: int = 4, peak: np.ndarray | None = None) -> np.ndarray:
        """Enhance ``x`` of shape ``(T,)`` or ``(T, channels)`` at rate ``sr``; returns the same shape.

        Each channel is enhanced on its own, its DC and sub-audio drift removed and its level brought
        into the model's range and back (see the module docstring). Input above the model's rate: the
        model enhances the band it covers and the content above it is kept; input below: resampled up
        and back down.

        Args:
            peak: per channel, the peak of the audio band (:func:`split_drift`) of the whole signal when
                ``x`` is one segment of it (streaming), so that every segment is scaled alike; the caller
                then reports a removed drift. Default: the peak of ``x`` itself, and a removed drift within
                20 dB of it is logged as a warning.
        """
        x = np.asarray(x, dtype=np.float32)
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
        if isinstance(sr, bool) or not isinstance(sr, (int, float, np.integer, np.floating)) \
                or not float(sr).is_integer() or sr <= 0:
            raise AudioError(f"sample rate must be a positive whole number of Hz, got {sr!r}")
        sr = int(sr)
        if x.ndim not in (1, 2):
            raise AudioError(f"expected samples of shape (T,) or (T, channels), got {x.shape}")
        if x.size == 0:
            raise AudioError(f"no samples (shape {x.shape})")
        if not np.isfinite(x).all():
            raise AudioError("input contains NaN or Inf samples")
        band, drift = split_drift(x, sr, self.device if self.device.type == "cuda" else None)
        band, drift = band.reshape(len(x), -1), drift.reshape(len(x), -1)
        if peak is None:
            peak = np.abs(band).max(axis=0)
            if note := drift_note(peak, np.abs(drift).max(axis=0)):
                log.warning(note)
        peaks = np.broadcast_to(np.asarray(peak, np.float64), band.shape[1:])
        out = np.empty_like(band)
        for k in range(band.shape[1]):
            gain = np.float32(level_gain(float(peaks[k])))
            out[:, k] = self._channel(band[:, k] * gain, sr, batch_size) / gain
        return out[:, 0] if x.ndim == 1 else out

    def _channel(self, x: np.ndarray, sr: int, batch_size: int) -> np.ndarray:
        msr = self.sample_rate
        if sr == msr:
            return self.enhance_mono(x, batch_size)
        low = resample(x, sr, msr)
        enhanced = resample(self.enhance_mono(low, batch_size), msr, sr)
        enhanced = fit_length(enhanced, len(x))
        if sr > msr:  # keep what lies above the model's band
            high = x - fit_length(resample(low, msr, sr), len(x))
            return enhanced + high
        return enhanced
