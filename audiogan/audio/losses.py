"""Losses of the enhancer and their weights: thresholded multi-resolution log-STFT, waveform L1, compressed
magnitudes, differentiable STOI; and the audio defaults of the adversarial setup, in one place."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import torch

from ..gan import AdversarialConfig, LossWeights

Tensor = torch.Tensor


@dataclass
class ReconConfig:
    __pydantic_config__ = {"extra": "forbid"}

    tau: float = 0.1  # deviations below this cost nothing (natural-log magnitude units)
    fft_sizes: list[int] = field(default_factory=lambda: [256, 512, 1024, 2048])
    # Magnitude floor, about -50 dB re a full-scale sine. At -80 dB (1e-4) the loss was dominated by
    # noise-floor bins and stayed flat at the identity's value through 2,500 steps (see configs/base.yaml).
    log_floor: float = 3e-3
    unpaired_tau: float = 0.5  # unpaired data: the output is tied to its own (degraded) input, loosely
    phase_fft_sizes: list[int] = field(default_factory=lambda: [512])  # loss/complex and loss/phase

    def __post_init__(self) -> None:
        if self.tau < 0 or self.unpaired_tau < 0 or self.log_floor <= 0:
            raise ValueError("recon.tau and unpaired_tau must be >= 0 and log_floor > 0")
        if not self.fft_sizes or any(n < 16 for n in self.fft_sizes + self.phase_fft_sizes):
            raise ValueError("recon.fft_sizes and phase_fft_sizes must be lists of sizes >= 16 (fft_sizes non-empty)")


@dataclass
class AudioLossWeights(LossWeights):
    """The core's weights plus the enhancer's terms, with the enhancer's defaults."""

    l2: float = 1e-4
    drift: float = 1e-3
    recon: float = 20.0  # thresholded multi-resolution log-STFT (the seed's reconstruction loss)
    wave: float = 0.0  # waveform L1
    mag: float = 0.0  # compressed-magnitude (power 0.3) spectral loss
    stoi: float = 0.0  # 1 - differentiable STOI
    complex: float = 0.0  # compressed complex spectrum, squared distance (phase_losses.py)
    phase: float = 0.0  # anti-wrapping phase losses: instantaneous phase + group delay + inst. frequency
    metric: float = 0.0  # the metric critic's predicted PESQ pushed to the maximum (needs a metric block)
    sisdr: float = 0.0  # negative SI-SDR in dB, capped at 30 dB (fidelity below the recon threshold)


@dataclass
class AudioAdversarialConfig(AdversarialConfig):
    """The adversarial setup with the enhancer's defaults: a Wasserstein critic, EMA, FARGAN batching."""

    weights: AudioLossWeights = field(default_factory=AudioLossWeights)
    ema_decay: float | None = 0.999
    fargan_count: int = 1


def stft_magnitude(x: Tensor, n_fft: int) -> Tensor:
    """``|STFT(x)| / sum(window)`` of ``x (B, 1, T)`` or ``(B, T)``: ``(B, F, frames)`` (Hann, hop n_fft / 4).

    Dividing by the window's sum makes a full-scale sinusoid read about 0.5 at every FFT size, so one
    floor and one threshold serve all resolutions. The 1e-12 under the root keeps the gradient finite
    at silent bins.
    """
    window = torch.hann_window(n_fft, device=x.device, dtype=torch.float32)
    spec = torch.stft(x.reshape(-1, x.shape[-1]).float(), n_fft, n_fft // 4, window=window, return_complex=True)
    return (spec.real.square() + spec.imag.square() + 1e-12).sqrt() / window.sum()


def log_magnitude(x: Tensor, n_fft: int, log_floor: float) -> Tensor:
    """``log(|STFT(x)| / sum(window) + floor)`` (see :func:`stft_magnitude`): ``(B, F, frames)``."""
    return torch.log(stft_magnitude(x, n_fft) + log_floor)


def thresholded_stft_loss(output: Tensor, target: Tensor, tau: float = 0.1,
                          fft_sizes: tuple[int, ...] | list[int] = (256, 512, 1024, 2048),
                          log_floor: float = 3e-3) -> Tensor:
    """Reconstruction loss that ignores deviations under ``tau``: ``mean(relu(|L(y) - L(x)| - tau))``.

    ``L`` is the log-magnitude STFT (:func:`log_magnitude`), averaged over ``fft_sizes`` (Yamamoto et al.
    2020 use such multi-resolution STFT losses for waveform generators). Why this representation:
    a log-magnitude difference is a level ratio, so 0.1 means about 0.87 dB, below what listeners hear
    in one time-frequency bin. Deviations that small cost nothing and the adversarial loss alone decides
    the fine detail; larger ones cost their excess, as an L1 loss would (the 0.1 threshold of the deep
    audio GAN this project follows). The magnitude ignores phase, which the critic and the generator's
    input skip carry. The floor (default 3e-3, about -50 dB re a full-scale sine) keeps silence and the
    noise floor from dominating the log: with 1e-4 the loss barely moved as the model learned to denoise.

    Args:
        output, target: ``(B, 1, T)`` waveforms at the same rate.
        tau: threshold in natural-log units (default 0.1).
    """
    total = output.new_zeros((), dtype=torch.float32)
    for n_fft in fft_sizes:
        dev = (log_magnitude(output, n_fft, log_floor) - log_magnitude(target, n_fft, log_floor)).abs()
        total = total + torch.relu(dev - tau).mean()
    return total / len(fft_sizes)


def waveform_l1(output: Tensor, target: Tensor) -> Tensor:
    """Plain mean absolute error between waveforms (off by default: weight ``loss/wave``)."""
    return (output.float() - target.float()).abs().mean()


def sisdr_loss(output: Tensor, target: Tensor, max_db: float = 30.0) -> Tensor:
    """Negative scale-invariant SDR in dB (Le Roux et al. 2019), averaged over the batch of ``(B, 1, T)``.

    The thresholded recon loss ignores log-magnitude deviations under ``tau`` (about 10 % in amplitude),
    which is an error near -20 dB: an enhancer trained on it alone caps the SI-SDR of everything it outputs
    near there, cleaner inputs included. In dB the gradient grows as the error shrinks, so this term works
    where the output is already close and leaves hopeless segments (a vocoder's lost phase) to the others.
    The error energy is floored at ``10^(-max_db / 10)`` of the target's, so a segment passed through
    exactly (an identity example) scores ``-max_db`` with a bounded gradient.
    """
    est, ref = output.float().flatten(1), target.float().flatten(1)
    est, ref = est - est.mean(1, keepdim=True), ref - ref.mean(1, keepdim=True)
    ref_energy = (ref * ref).sum(1) + 1e-12
    scaled = ((est * ref).sum(1) / ref_energy).unsqueeze(1) * ref
    error = ((est - scaled) ** 2).sum(1)
    target_energy = (scaled * scaled).sum(1)
    floor = 10 ** (-max_db / 10) * target_energy
    return -(10 * torch.log10((target_energy + 1e-12) / (error + floor + 1e-12))).mean()


def compressed_magnitude_loss(output: Tensor, target: Tensor, fft_sizes: tuple[int, ...] | list[int] = (512,),
                              power: float = 0.3) -> Tensor:
    """Mean squared error between power-law compressed STFT magnitudes, ``mean((|Y|^c - |X|^c)^2)``.

    A compression exponent of 0.3 is the usual choice of mask-based speech enhancers (Wilson et al. 2018,
    "Exploring tradeoffs in models for low-latency speech enhancement"; Braun & Tashev 2021). Unlike the
    log distance it weighs a bin by its level, so errors in loud speech count more than errors at the
    noise floor, as intelligibility measures (STOI) and PESQ weigh them. Magnitudes are divided by the
    window's sum (:func:`stft_magnitude`).

    Args:
        output, target: ``(B, 1, T)`` waveforms at the same rate.
        fft_sizes: STFT sizes (hop n_fft / 4, Hann window); the loss is averaged over them.
        power: compression exponent ``c``.
    """
    total = output.new_zeros((), dtype=torch.float32)
    for n_fft in fft_sizes:
        diff = stft_magnitude(output, n_fft).pow(power) - stft_magnitude(target, n_fft).pow(power)
        total = total + diff.square().mean()
    return total / len(fft_sizes)


@functools.lru_cache(maxsize=8)
def third_octave_matrix(sample_rate: int, n_fft: int, bands: int = 15, min_freq: float = 150.0) -> Tensor:
    """``(bands, n_fft // 2 + 1)`` 0/1 matrix: which FFT bins fall into each one-third octave band.

    Band ``k`` is centred on ``min_freq * 2^(k/3)`` with edges a sixth of an octave either side; a bin
    belongs to the band whose edges, rounded to the nearest bins, enclose it (STOI's band split, Taal et
    al. 2011). Cached: the loss asks for it on every step; callers must not modify it in place.
    """
    freqs = torch.arange(n_fft // 2 + 1, dtype=torch.float64) * sample_rate / n_fft
    centres = min_freq * 2.0 ** (torch.arange(bands, dtype=torch.float64) / 3)
    lows, highs = centres * 2.0 ** (-1 / 6), centres * 2.0 ** (1 / 6)
    matrix = torch.zeros(bands, len(freqs))
    for k in range(bands):
        lo = int(torch.argmin((freqs - lows[k]).abs()))
        hi = int(torch.argmin((freqs - highs[k]).abs()))
        matrix[k, lo:hi] = 1.0
    return matrix


def stoi_loss(output: Tensor, target: Tensor, sample_rate: int = 16000, segment: int = 30, eps: float = 1e-8) -> Tensor:
    """``1 - d``, with ``d`` a differentiable short-time objective intelligibility (Taal et al. 2011).

    STOI's steps at ``sample_rate`` instead of 10 kHz: Hann frames of 25.6 ms at half overlap, one-third
    octave band envelopes (15 bands from 150 Hz), segments of ``segment`` frames (384 ms); in each
    segment and band the output's envelope is scaled to the target's energy and clipped at 15 dB above
    it, and ``d`` is the mean correlation of the two envelopes. Unlike ``pystoi`` it keeps silent frames
    (training segments are short) and takes batches. The reference package ``pystoi`` measures; it is
    not differentiable, and the differentiable ``torch_stoi`` needs torchaudio, which this project does
    not depend on. Taking the loss on (B, 1, T) waveforms at the same rate; ``T`` must span at least
    ``segment`` frames.
    """
    frame = round(0.0256 * sample_rate)
    n_fft = 1 << (2 * frame - 1).bit_length()
    window = torch.hann_window(frame + 2, device=output.device, dtype=torch.float32)[1:-1]  # pystoi's window
    bands = third_octave_matrix(sample_rate, n_fft).to(output.device)
    envelopes = []
    for x in (output, target):
        spec = torch.stft(x.reshape(-1, x.shape[-1]).float(), n_fft, frame // 2, win_length=frame, window=window,
                          center=False, return_complex=True)
        envelopes.append(torch.sqrt(bands @ (spec.real.square() + spec.imag.square()) + eps))  # (B, bands, frames)
    y, x = (e.unfold(-1, segment, 1) for e in envelopes)  # (B, bands, segments, segment)
    y = y * (x.square().sum(-1, keepdim=True) / (y.square().sum(-1, keepdim=True) + eps)).sqrt()
    y = torch.minimum(y, x * (1 + 10 ** (15 / 20)))
    x, y = x - x.mean(-1, keepdim=True), y - y.mean(-1, keepdim=True)
    corr = (x * y).sum(-1) / (x.norm(dim=-1) * y.norm(dim=-1) + eps)
    return 1 - corr.mean()
