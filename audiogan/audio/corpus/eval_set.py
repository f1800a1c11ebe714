"""A held-out test set: every clean file degraded once per degradation family.

Besides the simulator's families, ``noise_dirs`` adds the family ``recorded``: each clean file with a random
stretch of a random recording from those folders mixed in at an SNR drawn uniformly from ``snr_db`` (real
babble, traffic, machines, rain: the noise that the simulator's stationary and synthesised noises only
approximate). The recordings are the user's; nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import AudioError, ConfigError, DataError
from ..data.files import CorpusReport, list_audio
from ..data.io import load_mono, write_audio
from ..data.noise import NoiseBank, NoiseConfig
from ..data.signal import peak_normalize
from ..degrade.registry import CLASSIC, DEGRADATIONS, available
from .result import CorpusResult

RECORDED = "recorded"  # the family of a user's noise recordings mixed in (``noise_dirs``)


def make_eval_set(clean: str | Path, out: str | Path, sample_rate: int = 16000, seed: int = 0,
                  families: list[str] | None = None, max_files: int | None = None,
                  noise_dirs: list[str] | None = None, snr_db: tuple[float, float] = (0.0, 10.0)) -> CorpusResult:
    """A held-out test set: ``out/clean/<rel>.wav`` and ``out/degraded/<family>/<rel>.wav``.

    Each clean file is degraded once per family (one degradation of that family, picked at random,
    at a random strength in [0.3, 0.9]), so results can be tabulated per degradation family. With
    ``noise_dirs``, the family ``recorded`` mixes in those recordings at an SNR in ``snr_db``.
    """
    clean, out = Path(clean), Path(out)
    pool = available(list(DEGRADATIONS) if families else CLASSIC)  # the classic seven unless asked
    by_family: dict[str, list[str]] = {}
    for name in pool:
        by_family.setdefault(DEGRADATIONS[name].family, []).append(name)
    if noise_dirs:
        by_family[RECORDED] = []
    if families:
        unknown = sorted(set(families) - set(by_family))
        if unknown:
            hint = f" ({RECORDED!r} needs noise folders)" if RECORDED in unknown else ""
            raise ConfigError(f"unknown or unavailable family {unknown[0]!r}{hint}; valid: "
                              f"{', '.join(sorted(by_family))}")
        by_family = {f: by_family[f] for f in families}
    result = CorpusResult()
    bank = _noise_bank(noise_dirs or [], snr_db, sample_rate, result) if RECORDED in by_family else None
    files = list_audio([str(clean)])[:max_files]
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
            if family == RECORDED:
                y = bank.apply(x, rng)
            else:
                d = DEGRADATIONS[str(rng.choice(names))]
                strength = float(rng.uniform(0.3, 0.9))
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


def _noise_bank(dirs: list[str], snr_db: tuple[float, float], sample_rate: int, result: CorpusResult) -> NoiseBank:
    """The recordings of ``dirs``, every one mixed in (``prob`` 1); unusable files go to ``result.problems``."""
    try:
        cfg = NoiseConfig(dirs=list(dirs), snr_db=list(snr_db), prob=1.0)
    except ValueError as err:  # the config's own check of the range, named as the command line names it
        raise ConfigError(str(err).replace("data.noise.snr_db", "--snr")) from err
    report = CorpusReport()
    try:
        return NoiseBank(cfg, sample_rate, report)
    except DataError as err:
        raise DataError(f"no usable noise recording in --noise {', '.join(map(str, dirs))}") from err
    finally:
        result.problems.update(report.problems)
