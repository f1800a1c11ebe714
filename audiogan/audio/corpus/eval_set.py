"""A held-out test set: every clean file degraded once per degradation family."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import AudioError, ConfigError
from ..data.files import list_audio
from ..data.io import load_mono, write_audio
from ..data.signal import peak_normalize
from ..degrade.registry import CLASSIC, DEGRADATIONS, available
from .result import CorpusResult


def make_eval_set(clean: str | Path, out: str | Path, sample_rate: int = 16000, seed: int = 0,
                  families: list[str] | None = None, max_files: int | None = None) -> CorpusResult:
    """A held-out test set: ``out/clean/<rel>.wav`` and ``out/degraded/<family>/<rel>.wav``.

    Each clean file is degraded once per family (one degradation of that family, picked at random,
    at a random strength in [0.3, 0.9]), so results can be tabulated per degradation family.
    """
    clean, out = Path(clean), Path(out)
    pool = available(list(DEGRADATIONS) if families else CLASSIC)  # the classic seven unless asked
    by_family: dict[str, list[str]] = {}
    for name in pool:
        by_family.setdefault(DEGRADATIONS[name].family, []).append(name)
    if families:
        unknown = sorted(set(families) - set(by_family))
        if unknown:
            raise ConfigError(f"unknown or unavailable family {unknown[0]!r}; valid: {', '.join(sorted(by_family))}")
        by_family = {f: by_family[f] for f in families}
    files = list_audio([str(clean)])[:max_files]
    result = CorpusResult()
    for i, f in enumerate(files):
        rel = f.relative_to(clean).with_suffix(".wav")
        try:
            x = load_mono(f, sample_rate)
        except AudioError as err:
            result.problems[str(f)] = str(err)
            continue
        x = peak_normalize(x)
        (out / "clean" / rel).parent.mkdir(parents=True, exist_ok=True)
        write_audio(out / "clean" / rel, x, sample_rate, subtype="PCM_16")
        for family, names in sorted(by_family.items()):
            rng = np.random.default_rng([seed, i, len(family), sum(map(ord, family))])
            name = str(rng.choice(names))
            d, strength = DEGRADATIONS[name], float(rng.uniform(0.3, 0.9))
            if d.needs_pool:  # babble: the other clean files of the set are the talkers
                speech = [load_mono(p, sample_rate) for p in files if p != f][:32]
                y = d.fn(x, sample_rate, rng, strength, speech)
            else:
                y = d.fn(x, sample_rate, rng, strength)
            y = np.clip(np.nan_to_num(y) * (np.abs(x).max() / max(float(np.abs(y).max()), 1e-4)), -1, 1)
            dest = out / "degraded" / family / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            write_audio(dest, y, sample_rate, subtype="PCM_16")
        result.files += 1
        result.seconds += len(x) / sample_rate
    return result
