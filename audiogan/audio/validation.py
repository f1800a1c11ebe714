"""Model selection on a validation split: the EMA generator scored on held-back segments at every checkpoint.

The split comes from the training corpus (training voices and sentences, other crops and other damage:
:meth:`CachedDataset.validation` or :meth:`EnhancementDataset.validation`); the held-out evaluation set is
never used here, so it stays a fair final report. Scores: ``valid/recon`` (the thresholded log-STFT loss,
always) and ``valid/pesq`` (wide-band PESQ of each segment against its clean target, when the ``eval``
extra is installed), with ``valid/pesq_input`` for the unprocessed segments as the reference, and
``valid/pesq_clean``: the PESQ of the output when the clean targets themselves are the input (an enhancer
must leave good speech alone; 4.64 is the identity's score). ``valid/sisdr`` and ``valid/sisdr_input`` (dB,
always) watch fidelity below the recon loss's threshold: a model that alters every input caps the SI-SDR
of its output, whatever its input's was. ``valid/dnsmos`` and ``valid/dnsmos_input`` (with ``speechmos``):
DNSMOS overall quality of the outputs and inputs, strung together 8 segments a clip (DNSMOS judges
seconds, not a single one), so a change that only an adversarial term would make, which PESQ may not see,
shows. The best step so far is kept in ``RUN/best/`` as a full checkpoint: the highest PESQ over damaged
and clean inputs weighted as training mixes them (``data.identity_fraction``), else the lowest recon loss.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from ..checkpoint import atomic_write_text, save_checkpoint
from .evaluate.metrics import dnsmos, si_sdr
from .losses import thresholded_stft_loss

BEST = "best"
_INPUT_DNSMOS: dict[str, float | None] = {}  # the validation inputs' DNSMOS, scored once per process


def _pesq_scores(pairs: list[tuple[np.ndarray, np.ndarray]], sample_rate: int) -> list[float] | None:
    try:
        from pesq import pesq
    except ImportError:
        return None

    def one(pair: tuple[np.ndarray, np.ndarray]) -> float:
        estimate, reference = pair
        try:
            return float(pesq(sample_rate, reference.astype(np.float64), estimate.astype(np.float64), "wb"))
        except Exception:  # a segment PESQ cannot score (silence): left out of the mean
            return float("nan")

    with ThreadPoolExecutor(max_workers=2) as pool:  # the C code releases the GIL
        return list(pool.map(one, pairs))


def _dnsmos_clips(signals: list[np.ndarray], sample_rate: int, per_clip: int = 8) -> float | None:
    """Mean DNSMOS (overall) of ``signals`` strung together ``per_clip`` at a time; ``None`` without speechmos
    or at a rate other than 16 kHz (DNSMOS's own)."""
    if sample_rate != 16000 or importlib.util.find_spec("speechmos") is None:
        return None
    clips = [np.concatenate(signals[i:i + per_clip]) for i in range(0, len(signals), per_clip)]
    return float(np.mean([dnsmos(clip.astype(np.float32)) for clip in clips]))


@torch.no_grad()
def validate(generator: torch.nn.Module, segments: list[tuple[torch.Tensor, torch.Tensor]], kwargs: dict,
             device: torch.device, sample_rate: int, tau: float, fft_sizes: list[int], log_floor: float,
             batch_size: int = 16) -> dict[str, float]:
    """Scores of ``generator`` on ``(degraded (1, L), clean (1, L))`` segments (see the module docstring)."""
    if not segments:
        return {}
    outputs, from_clean, losses = [], [], []
    for i in range(0, len(segments), batch_size):
        degraded = torch.stack([d for d, _ in segments[i:i + batch_size]]).to(device)
        clean = torch.stack([c for _, c in segments[i:i + batch_size]]).to(device)
        out = generator(degraded, **kwargs).float()
        losses.append(float(thresholded_stft_loss(out, clean, tau, fft_sizes, log_floor)) * len(degraded))
        outputs += list(out[:, 0].cpu().numpy())
        from_clean += list(generator(clean, **kwargs).float()[:, 0].cpu().numpy())
    stats = {"valid/recon": sum(losses) / len(segments)}
    clean = [c[0].numpy() for _, c in segments]
    inputs = [d[0].numpy() for d, _ in segments]
    stats["valid/sisdr"] = float(np.mean([si_sdr(o, c) for o, c in zip(outputs, clean)]))
    stats["valid/sisdr_input"] = float(np.mean([si_sdr(d, c) for d, c in zip(inputs, clean)]))
    mos = _dnsmos_clips(outputs, sample_rate)
    if mos is not None:
        stats["valid/dnsmos"] = mos
        key = hashlib.sha1(b"".join(x.tobytes() for x in inputs)).hexdigest()  # the same split at every checkpoint
        if key not in _INPUT_DNSMOS:
            _INPUT_DNSMOS[key] = _dnsmos_clips(inputs, sample_rate)
        stats["valid/dnsmos_input"] = _INPUT_DNSMOS[key]
    enhanced = _pesq_scores(list(zip(outputs, clean)), sample_rate)
    if enhanced is not None:
        stats["valid/pesq"] = float(np.nanmean(enhanced))
        stats["valid/pesq_input"] = float(np.nanmean(_pesq_scores(list(zip(inputs, clean)), sample_rate)))
        stats["valid/pesq_clean"] = float(np.nanmean(_pesq_scores(list(zip(from_clean, clean)), sample_rate)))
    return stats


def selection_score(stats: dict[str, float], identity_fraction: float = 0.0) -> float:
    """Higher is better: validation PESQ when it was measured (on damaged and clean inputs, weighted
    ``1 - identity_fraction`` and ``identity_fraction``), else the negative recon loss."""
    if "valid/pesq" not in stats:
        return -stats["valid/recon"]
    if not identity_fraction:
        return stats["valid/pesq"]
    return (1 - identity_fraction) * stats["valid/pesq"] + identity_fraction * stats["valid/pesq_clean"]


def keep_if_best(run: Path, step: int, stats: dict[str, float], config_yaml: str, models: dict, state: dict,
                 identity_fraction: float = 0.0) -> bool:
    """Write ``RUN/best/`` (a full checkpoint) and ``RUN/best.json`` when ``stats`` beat the best so far."""
    record = run / f"{BEST}.json"
    score = selection_score(stats, identity_fraction)
    if record.exists() and json.loads(record.read_text())["score"] >= score:
        return False
    save_checkpoint(run / BEST, config_yaml, models, state)
    atomic_write_text(record, json.dumps({"step": step, "score": score, **stats}, indent=1))
    return True
