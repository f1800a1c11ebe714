"""The phase-aware generator, its losses (against a loop over bins in numpy) and the multi-period critic."""

import math

import numpy as np
import pytest
import torch
from torch.nn.utils import parametrize
from torch.testing import assert_close

from audiogan.audio.models import SpectralPhaseConfig, make_generator
from audiogan.audio.models.critic import AudioCritic, CriticConfig, PeriodCritic
from audiogan.audio.phase_losses import anti_wrap, complex_compressed_loss, complex_stft, phase_loss

TINY = SpectralPhaseConfig(n_fft=64, hop=16, channels=8, blocks=3)


def test_phase_generator_is_very_deep_by_default_and_keeps_any_length():
    cfg = SpectralPhaseConfig()
    g = make_generator(cfg)
    convs = [m for m in g.modules() if isinstance(m, torch.nn.Conv1d)]
    assert len(convs) == cfg.conv_layers >= 32
    small = make_generator(TINY)
    for length in (1, 15, 16, 17, 1001):
        assert small(torch.randn(2, 1, length)).shape == (2, 1, length)


def test_phase_generator_starts_near_the_identity():
    g = make_generator(SpectralPhaseConfig())
    x = torch.randn(1, 1, 8000) * 0.3
    with torch.no_grad():
        assert float((g(x) - x).abs().max()) < 0.02


def test_heads_do_what_the_docstring_says():
    """Forced heads: mask m, a rotation by angle theta and a residual R give m |X| e^{j(phi + theta)} + R."""
    g = make_generator(SpectralPhaseConfig(n_fft=64, hop=16, channels=8, blocks=2, max_gain=2.0))
    bins = 33
    spec = torch.randn(1, bins, 20, dtype=torch.complex64)
    with torch.no_grad():
        for head in (g.to_mask, g.to_phase, g.to_residual):
            head.weight.zero_()
        g.to_mask.bias.fill_(math.log(3.0))  # sigmoid(log 3 + log 1) * 2 = 1.5
        theta = 0.7
        g.to_phase.bias[:bins].fill_(math.cos(theta) - 1)  # (1 + u, v) = (cos theta, sin theta)
        g.to_phase.bias[bins:].fill_(math.sin(theta))
        g.to_residual.bias[:bins].fill_(0.5)  # a = 0.5, b = 0: R = 0.5^(1/0.3), real
        y = g.spectrum(spec)
    expected = 1.5 * spec * complex(math.cos(theta), math.sin(theta)) + 0.5 ** (1 / 0.3)
    assert_close(y, expected, atol=1e-5, rtol=1e-4)


def test_phase_generator_changes_phase_and_fills_an_empty_band():
    """Unlike a gain, the generator can rotate phases and put energy in bins where the input has none."""
    g = make_generator(SpectralPhaseConfig(n_fft=64, hop=16, channels=8, blocks=2))
    with torch.no_grad():
        # a = 0.5 (-1)^k in bins 0..9: each frame's residual is a pulse at the window's centre
        g.to_residual.bias[:10].copy_(0.5 * (-1.0) ** torch.arange(10))
        y = g(torch.zeros(1, 1, 1024))
    assert float(y.abs().max()) > 1e-2


def _stft_np(x: np.ndarray, n_fft: int) -> np.ndarray:
    """Centred Hann STFT (reflect padding, hop n_fft / 4), divided by the window's sum, frame by frame."""
    hop, window = n_fft // 4, np.hanning(n_fft + 1)[:-1]
    padded = np.pad(x, n_fft // 2, mode="reflect")
    frames = [np.fft.rfft(padded[i:i + n_fft] * window) for i in range(0, len(padded) - n_fft + 1, hop)]
    return np.stack(frames, axis=1) / window.sum()


def test_complex_stft_matches_a_numpy_loop():
    x = np.random.default_rng(0).standard_normal(800)
    assert_close(complex_stft(torch.from_numpy(x)[None], 64)[0], torch.from_numpy(_stft_np(x, 64)).to(torch.complex64),
                 atol=1e-5, rtol=1e-4)


def test_losses_against_per_bin_numpy():
    rng = np.random.default_rng(1)
    t = rng.standard_normal(900) * 0.3
    y = t + 0.2 * rng.standard_normal(900)
    n_fft, c = 64, 0.3
    Y, T = _stft_np(y, n_fft), _stft_np(t, n_fft)
    yc, tc = np.abs(Y) ** c * np.exp(1j * np.angle(Y)), np.abs(T) ** c * np.exp(1j * np.angle(T))
    complex_ref = np.mean(np.abs(yc - tc) ** 2)
    aw = lambda d: np.abs(d - 2 * np.pi * np.round(d / (2 * np.pi)))  # noqa: E731
    w = np.abs(T) ** c
    w = w / w.mean()
    py, pt = np.angle(Y + 1e-5), np.angle(T + 1e-5)
    ip = np.mean(w * aw(py - pt))
    gd = np.mean(w[:-1] * aw(np.diff(py, axis=0) - np.diff(pt, axis=0)))
    iaf = np.mean(w[:, :-1] * aw(np.diff(py, axis=1) - np.diff(pt, axis=1)))
    yt, tt = torch.from_numpy(y).float()[None, None], torch.from_numpy(t).float()[None, None]
    assert float(complex_compressed_loss(yt, tt, [n_fft])) == pytest.approx(complex_ref, rel=1e-3)
    got = phase_loss(yt, tt, [n_fft])
    assert float(got["ip"]) == pytest.approx(ip, rel=2e-3)
    assert float(got["gd"]) == pytest.approx(gd, rel=2e-3)
    assert float(got["iaf"]) == pytest.approx(iaf, rel=2e-3)


def test_anti_wrap_is_the_distance_on_the_circle():
    d = torch.tensor([0.0, 0.5, math.pi - 0.1, -math.pi + 0.1, 2 * math.pi - 0.2, -7.0])
    assert_close(anti_wrap(d), torch.tensor([0.0, 0.5, math.pi - 0.1, math.pi - 0.1, 0.2, 7.0 - 2 * math.pi]))


def test_phase_losses_zero_for_equal_signals_and_finite_gradient_at_silence():
    x = torch.randn(2, 1, 2000) * 0.1
    assert float(complex_compressed_loss(x, x, [128, 256])) == 0.0
    assert all(float(v) == 0.0 for v in phase_loss(x, x, [128]).values())
    silent = torch.zeros(2, 1, 2000, requires_grad=True)
    (complex_compressed_loss(silent, x) + sum(phase_loss(silent, x).values())).backward()
    assert torch.isfinite(silent.grad).all()


def test_phase_loss_sees_a_pure_phase_error_that_magnitudes_do_not():
    """A signal delayed by a fraction of a frame has the target's magnitudes but not its phases."""
    t = torch.sin(torch.arange(4000) * 0.3)[None, None] * 0.5
    y = torch.roll(t, 3, dims=-1)
    assert float(sum(phase_loss(y, t, [256]).values())) > 0.1


@pytest.mark.parametrize("period", [2, 3, 5, 7, 11])
def test_period_critic_folds_by_its_period(period):
    c = PeriodCritic(period, 8, 2)
    scores, feats = c(torch.randn(2, 1, 1000))
    assert scores.shape[0] == 2 and scores.shape[-1] == period and len(feats) == 2


def test_critic_with_periods_has_spectral_norm_everywhere():
    cfg = CriticConfig(stft_sizes=[128], waveform_scales=1, periods=[2, 3, 5, 7, 11], channels=8, blocks=2)
    critic = AudioCritic(cfg)
    convs = [m for m in critic.modules() if isinstance(m, (torch.nn.Conv1d, torch.nn.Conv2d))]
    assert convs and all(parametrize.is_parametrized(m, "weight") for m in convs)
    scores, _ = critic(torch.randn(3, 1, 2000))
    assert scores.shape == (3, 7)
    assert critic(torch.randn(3, 1, 2000), depth=1)[0].shape == (3, 7)


def test_critic_crop_scores_one_random_window_in_training_only():
    cfg = CriticConfig(stft_sizes=[256], waveform_scales=1, periods=[3], channels=8, blocks=1, crop=1024)
    critic = AudioCritic(cfg)
    seen = []
    critic.subs[0].register_forward_pre_hook(lambda m, args: seen.append(args[0].shape[-1]))
    x = torch.randn(2, 1, 4000)
    critic(x)
    critic.eval()
    critic(x)
    assert seen == [1024, 4000]
    # The gradient reaches only the cropped window.
    critic.train()
    x.requires_grad_()
    critic(x)[0].sum().backward()
    assert 0 < int((x.grad[0, 0] != 0).sum()) <= 1024
    with pytest.raises(ValueError, match="critic.crop"):
        CriticConfig(stft_sizes=[2048], crop=1024)
