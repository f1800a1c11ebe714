"""Phase-aware losses of the enhancer: the complex spectrum on compressed magnitudes and the anti-wrapping
phase losses (instantaneous phase, group delay, instantaneous angular frequency).

Both come from MP-SENet (Lu et al. 2023, "MP-SENet: a speech enhancement model with parallel denoising of
magnitude and phase spectra"): the complex spectrum compressed as ``|X|^c e^{j phi}`` with ``c = 0.3``
(so quiet bins count, as they do for the ear), and phase errors measured through the anti-wrapping
function ``aw(x) = |x - 2 pi round(x / 2 pi)|``, the distance on the circle, so a phase of ``pi - e`` and
one of ``-pi + e`` are ``2 e`` apart, not ``2 pi - 2 e``.

One departure from the paper: the phase terms are weighted per time-frequency bin by the target's
compressed magnitude (normalised to mean 1 per example). The phase of a bin that holds only the noise
floor is arbitrary, and unweighted it would pull the generator as hard as the phase of a harmonic.

Tensors are waveforms ``(B, 1, T)`` or ``(B, T)``; spectra use a Hann window of ``n_fft`` with hop
``n_fft // 4``, magnitudes divided by the window's sum (a full-scale sinusoid reads about 0.5).
"""

from __future__ import annotations

import math

import torch

Tensor = torch.Tensor
COMPRESS = 0.3
# Added to every bin before its angle is taken: the angle's gradient is 1 / |X|, infinite at an exactly
# silent bin (zero padding, digital silence). 1e-5 is -94 dB re a full-scale sinusoid's 0.5: it moves the
# phase of a bin at -60 dB by at most 0.02 rad.
ANGLE_OFFSET = 1e-5


def complex_stft(x: Tensor, n_fft: int) -> Tensor:
    """``STFT(x) / sum(window)``: complex ``(B, F, frames)`` (Hann, hop n_fft / 4)."""
    window = torch.hann_window(n_fft, device=x.device, dtype=torch.float32)
    spec = torch.stft(x.reshape(-1, x.shape[-1]).float(), n_fft, n_fft // 4, window=window, return_complex=True)
    return spec / window.sum()


def _compressed(spec: Tensor, c: float) -> tuple[Tensor, Tensor, Tensor]:
    """``(|X|^c, cos phi, sin phi)``; the 1e-12 keeps the gradient finite at silent bins."""
    magnitude = (spec.real.square() + spec.imag.square() + 1e-12).sqrt()
    return magnitude.pow(c), spec.real / magnitude, spec.imag / magnitude


def complex_compressed_loss(output: Tensor, target: Tensor, fft_sizes: tuple[int, ...] | list[int] = (512,),
                            c: float = COMPRESS) -> Tensor:
    """``mean |Y_c - T_c|^2`` with ``X_c = |X|^c e^{j phi_X}``, averaged over the FFT sizes.

    The squared distance of compressed complex spectra counts magnitude and phase errors together
    (MP-SENet's complex loss, c = 0.3).
    """
    total = output.new_zeros((), dtype=torch.float32)
    for n_fft in fft_sizes:
        my, cy, sy = _compressed(complex_stft(output, n_fft), c)
        mt, ct, st = _compressed(complex_stft(target, n_fft), c)
        total = total + ((my * cy - mt * ct).square() + (my * sy - mt * st).square()).mean()
    return total / len(fft_sizes)


def anti_wrap(x: Tensor) -> Tensor:
    """``|x - 2 pi round(x / 2 pi)|``: the distance of an angle difference on the circle, in [0, pi]."""
    return (x - 2 * math.pi * torch.round(x / (2 * math.pi))).abs()


def phase_loss(output: Tensor, target: Tensor, fft_sizes: tuple[int, ...] | list[int] = (512,),
               c: float = COMPRESS) -> dict[str, Tensor]:
    """The three anti-wrapping phase losses, magnitude-weighted, averaged over the FFT sizes.

    Returns ``{"ip": .., "gd": .., "iaf": ..}``:

    - ``ip``: instantaneous phase, ``aw(phi_Y - phi_T)``;
    - ``gd``: group delay, the phase difference between adjacent frequency bins, ``aw(dF phi_Y - dF phi_T)``;
    - ``iaf``: instantaneous angular frequency, the difference between adjacent frames, ``aw(dT phi_Y - dT phi_T)``.

    Each is a mean over bins weighted by ``w = |T|^c / mean(|T|^c)`` (per example); the differences take
    the weight of their lower bin.
    """
    out = {"ip": 0.0, "gd": 0.0, "iaf": 0.0}
    for n_fft in fft_sizes:
        y, t = complex_stft(output, n_fft), complex_stft(target, n_fft)
        phi_y, phi_t = torch.angle(y + ANGLE_OFFSET), torch.angle(t + ANGLE_OFFSET)
        w = _compressed(t, c)[0].detach()
        w = w / w.mean(dim=(1, 2), keepdim=True).clamp_min(1e-8)
        out["ip"] = out["ip"] + (w * anti_wrap(phi_y - phi_t)).mean()
        gd = anti_wrap(torch.diff(phi_y, dim=1) - torch.diff(phi_t, dim=1))
        out["gd"] = out["gd"] + (w[:, :-1] * gd).mean()
        iaf = anti_wrap(torch.diff(phi_y, dim=2) - torch.diff(phi_t, dim=2))
        out["iaf"] = out["iaf"] + (w[:, :, :-1] * iaf).mean()
    return {k: v / len(fft_sizes) for k, v in out.items()}
