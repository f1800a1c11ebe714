"""The enhancer API: a trained generator applied to arrays; model folders load without pickle.

A model folder holds ``config.yaml`` (:class:`EnhancerConfig`), ``model.safetensors`` (the generator,
its EMA weights) and a ``README.md`` model card.

Long signals are cut into chunks processed with context on both sides (overlap-save): each chunk
reads ``context`` extra samples left and right, at least the generator's receptive field, and only its
centre is kept. Chunk starts are multiples of the generator's hop, so every chunk sees the frame grid
of whole-signal processing and the result equals it to float precision, at constant memory.
"""

from __future__ import annotations

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

DEFAULT_MODEL = "audiogan-base"


class EnhancerConfig(pydantic.BaseModel):
    """What a model folder's config.yaml holds."""

    model_config = pydantic.ConfigDict(extra="forbid")

    name: str = "audiogan"
    sample_rate: int = 16000
    generator: GeneratorConfig = field(default_factory=SpectralGainConfig)
    chunk_seconds: float = 8.0  # samples per chunk at the model rate = chunk_seconds * sample_rate


class Enhancer:
    """A generator ready to enhance audio: ``enhancer(x, sr) -> y`` with ``y`` shaped like ``x``."""

    def __init__(self, generator: torch.nn.Module, config: EnhancerConfig, device: str | torch.device = "cpu"):
        self.config = config
        self.device = torch.device(device)
        self.generator = generator.to(self.device).eval()
        hop = config.generator.hop
        rf = config.generator.receptive_field()
        self.context = -(-rf // hop) * hop  # receptive field rounded up to the hop grid
        self.chunk = max(hop, int(config.chunk_seconds * config.sample_rate) // hop * hop)

    @classmethod
    def from_pretrained(cls, path: str | Path | None = None, device: str | torch.device = "cpu") -> "Enhancer":
        """Load a model folder, or a model shipped in ``models/`` by name (default: the default model).

        Never unpickles anything: the config is YAML, the weights safetensors, loaded strictly.
        """
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
            raise ConfigError(f"{weights}: cannot load weights ({str(err).splitlines()[0][:160]})") from None
        return cls(generator, config, device)

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
        for starts, size in groups:
            windows = np.stack([padded[s:s + size + 2 * c] for s in starts])
            y = self.generator(torch.from_numpy(windows).unsqueeze(1).to(self.device))
            y = y[:, 0, c:c + size].float().cpu().numpy()
            for s, seg in zip(starts, y):
                out[s:s + size] = seg[: min(size, n - s)]
        return out

    def __call__(self, x: np.ndarray, sr: int, batch_size: int = 4) -> np.ndarray:
        """Enhance ``x`` of shape ``(T,)`` or ``(T, channels)`` at rate ``sr``; returns the same shape.

        Each channel is enhanced on its own. Input above the model's rate: the model enhances the band
        it covers and the content above it is kept; input below: resampled up and back down.
        """
        x = np.asarray(x, dtype=np.float32)
        if x.ndim not in (1, 2) or x.shape[0] == 0:
            raise AudioError(f"expected samples of shape (T,) or (T, channels), got {x.shape}")
        if not np.isfinite(x).all():
            raise AudioError("input contains NaN or Inf samples")
        channels = x[:, None] if x.ndim == 1 else x
        out = np.stack([self._channel(channels[:, k], sr, batch_size) for k in range(channels.shape[1])], axis=1)
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
