"""The enhancer's networks: the generators (each with its config beside it) and the critic.

``GeneratorConfig`` is the union of the generator configs, told apart by ``kind`` (``spectral_gain``, the
shipped one and the default when ``kind`` is absent; ``spectral_phase``, phase-aware; ``waveform``);
:func:`make_generator` builds the generator that a config describes.
"""

from __future__ import annotations

from typing import Annotated, Any, Union

import pydantic
from torch import nn

from .phase_generator import SpectralPhaseConfig, SpectralPhaseGenerator
from .spectral_generator import SpectralGainConfig, SpectralGainGenerator
from .wave_generator import WaveGeneratorConfig, WaveGenerator

DEFAULT_KIND = "spectral_gain"
_GENERATORS: dict[type, type[nn.Module]] = {SpectralGainConfig: SpectralGainGenerator,
                                            SpectralPhaseConfig: SpectralPhaseGenerator,
                                            WaveGeneratorConfig: WaveGenerator}


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return value.get("kind", DEFAULT_KIND)
    return getattr(value, "kind", DEFAULT_KIND)


GeneratorConfig = Annotated[
    Union[Annotated[SpectralGainConfig, pydantic.Tag("spectral_gain")],
          Annotated[SpectralPhaseConfig, pydantic.Tag("spectral_phase")],
          Annotated[WaveGeneratorConfig, pydantic.Tag("waveform")]],
    pydantic.Discriminator(_kind),
]


def make_generator(cfg: SpectralGainConfig | SpectralPhaseConfig | WaveGeneratorConfig) -> nn.Module:
    """The generator ``cfg`` describes; every one maps ``(B, 1, T) -> (B, 1, T)`` for any ``T``."""
    return _GENERATORS[type(cfg)](cfg)


__all__ = ["GeneratorConfig", "SpectralGainConfig", "SpectralGainGenerator", "SpectralPhaseConfig",
           "SpectralPhaseGenerator", "WaveGeneratorConfig", "WaveGenerator", "make_generator"]
