"""Speech quality measures: PESQ (wideband, ``pesq``), STOI (``pystoi``), DNSMOS (``speechmos``, when
installed), SI-SDR and log-spectral distance.

PESQ and STOI come from the field's reference packages (optional extra ``eval``); SI-SDR and LSD are
short formulas, written out and tested against hand computations.
"""

from __future__ import annotations

import numpy as np

from ..data.signal import peak_normalize

EVAL_RATE = 16000  # PESQ wideband and DNSMOS work at 16 kHz


def si_sdr(estimate: np.ndarray, reference: np.ndarray, eps: float = 1e-8) -> float:
    """Scale-invariant SDR in dB (Le Roux et al. 2019): project out the scale, compare energies."""
    est, ref = estimate - estimate.mean(), reference - reference.mean()
    target = (np.dot(est, ref) / (np.dot(ref, ref) + eps)) * ref
    noise = est - target
    return float(10 * np.log10((np.dot(target, target) + eps) / (np.dot(noise, noise) + eps)))


def log_spectral_distance(estimate: np.ndarray, reference: np.ndarray, n_fft: int = 512, eps: float = 1e-10) -> float:
    """LSD in dB: per frame, the RMS over frequency of ``10 log10`` power differences; mean over frames."""
    import librosa

    p_est = np.abs(librosa.stft(estimate, n_fft=n_fft, hop_length=n_fft // 4)) ** 2
    p_ref = np.abs(librosa.stft(reference, n_fft=n_fft, hop_length=n_fft // 4)) ** 2
    diff = 10 * np.log10(p_ref + eps) - 10 * np.log10(p_est + eps)
    return float(np.mean(np.sqrt(np.mean(diff ** 2, axis=0))))


def pesq_wb(estimate: np.ndarray, reference: np.ndarray) -> float:
    from pesq import pesq

    return float(pesq(EVAL_RATE, reference, estimate, "wb"))


def stoi(estimate: np.ndarray, reference: np.ndarray) -> float:
    from pystoi import stoi as _stoi

    return float(_stoi(reference, estimate, EVAL_RATE, extended=False))


def dnsmos(estimate: np.ndarray) -> float | None:
    """DNSMOS overall quality (P.835 OVRL) when ``speechmos`` is installed, else ``None``."""
    try:
        from speechmos import dnsmos as _dnsmos
    except ImportError:
        return None
    x = peak_normalize(estimate, 0.95)
    return float(_dnsmos.run(x.astype(np.float32), EVAL_RATE)["ovrl_mos"])


def measure(estimate: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """Every measure of ``estimate`` against ``reference`` (both mono at 16 kHz, equal length)."""
    n = min(len(estimate), len(reference))
    est, ref = estimate[:n].astype(np.float64), reference[:n].astype(np.float64)
    out = {"pesq": pesq_wb(est, ref), "stoi": stoi(est, ref), "si_sdr": si_sdr(est, ref),
           "lsd": log_spectral_distance(est.astype(np.float32), ref.astype(np.float32))}
    mos = dnsmos(est)
    if mos is not None:
        out["dnsmos"] = mos
    return out
