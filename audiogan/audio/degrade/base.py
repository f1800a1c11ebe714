"""What every degradation is: a named, seeded function of a mono signal and a strength in [0, 1]."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

Degrader = Callable[[np.ndarray, int, np.random.Generator, float], np.ndarray]


@dataclass(frozen=True)
class Degradation:
    name: str
    family: str
    fn: Degrader
    tools: tuple[str, ...] = ()  # command-line tools it needs
    package: str = ""  # the Debian package that provides them
    needs_pool: bool = False  # fn takes a fifth argument: a list of other speech signals (babble)


def lerp(lo: float, hi: float, s: float) -> float:
    """``lo`` at strength 0, ``hi`` at strength 1 (``s`` clipped to [0, 1])."""
    return lo + (hi - lo) * float(np.clip(s, 0.0, 1.0))
