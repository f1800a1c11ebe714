"""The enhancer's losses, each against an independent computation (hand formulas, librosa, pystoi)."""

import pytest
import torch
from torch.testing import assert_close

from audiogan.audio.losses import (compressed_magnitude_loss, log_magnitude, sisdr_loss, stoi_loss,
                                   third_octave_matrix, thresholded_stft_loss)


def test_thresholded_loss_against_hand_computation():
    torch.manual_seed(0)
    x, y = torch.randn(2, 1, 1024) * 0.3, torch.randn(2, 1, 1024) * 0.3
    got = thresholded_stft_loss(y, x, tau=0.1, fft_sizes=[256, 512], log_floor=1e-4)
    manual = 0.0
    for n in (256, 512):
        win = torch.hann_window(n)
        a = torch.stft(y.reshape(2, -1), n, n // 4, window=win, return_complex=True).abs() / win.sum()
        b = torch.stft(x.reshape(2, -1), n, n // 4, window=win, return_complex=True).abs() / win.sum()
        dev = (torch.log(a + 1e-4) - torch.log(b + 1e-4)).abs()
        manual += torch.where(dev > 0.1, dev - 0.1, torch.zeros_like(dev)).mean() / 2
    assert_close(got, manual, rtol=1e-4, atol=1e-6)


def test_thresholded_loss_ignores_small_deviations():
    x = torch.randn(1, 1, 2048) * 0.3
    assert float(thresholded_stft_loss(x * 1.05, x)) == 0.0  # |log 1.05| = 0.049 < 0.1
    # A gain of 1.5 is log 1.5 = 0.4055 in every bin (floor made negligible): the excess over tau costs.
    assert float(thresholded_stft_loss(x * 1.5, x, log_floor=1e-12)) == pytest.approx(0.4055 - 0.1, rel=1e-3)
    assert float(thresholded_stft_loss(x * 1.5, x, tau=0.0, log_floor=1e-12)) == pytest.approx(0.4055, rel=1e-3)


def test_log_magnitude_scale_is_fft_size_independent():
    t = torch.arange(16000) / 16000
    sine = torch.sin(2 * torch.pi * 1000 * t).reshape(1, 1, -1)
    peaks = [float(log_magnitude(sine, n, 1e-4).exp().max()) for n in (256, 1024)]
    assert peaks[0] == pytest.approx(0.5, abs=0.02) and peaks[1] == pytest.approx(0.5, abs=0.02)


def test_compressed_magnitude_loss_matches_librosa():
    """mean over sizes of mean((|Y|^c - |X|^c)^2), magnitudes / window sum, against librosa's STFT."""
    import librosa
    import numpy as np

    rng = np.random.default_rng(0)
    y, x = rng.standard_normal((2, 3000)).astype(np.float32) * 0.3
    expected = []
    for n_fft in (256, 512):
        window_sum = float(torch.hann_window(n_fft).sum())
        mags = [np.abs(librosa.stft(s, n_fft=n_fft, hop_length=n_fft // 4, window="hann", pad_mode="reflect")) / window_sum
                for s in (y, x)]
        expected.append(np.mean((mags[0] ** 0.3 - mags[1] ** 0.3) ** 2))
    got = compressed_magnitude_loss(torch.from_numpy(y)[None, None], torch.from_numpy(x)[None, None], [256, 512], 0.3)
    assert float(got) == pytest.approx(float(np.mean(expected)), rel=1e-4)
    assert float(compressed_magnitude_loss(torch.from_numpy(x)[None, None], torch.from_numpy(x)[None, None])) < 1e-10


def test_third_octave_matrix_matches_pystoi():
    pytest.importorskip("pystoi", reason="needs the eval extra (pip install 'audiogan[eval]'): pystoi")
    from pystoi.utils import thirdoct

    for rate, n_fft in ((10000, 512), (16000, 1024)):
        reference, _ = thirdoct(rate, n_fft, 15, 150)
        assert_close(third_octave_matrix(rate, n_fft), torch.from_numpy(reference).float())


def test_stoi_loss_tracks_pystoi():
    """1 - stoi_loss follows pystoi's STOI (which works at 10 kHz) to within 0.03 on speech without pauses
    (pystoi drops silent frames, the loss keeps them), is 0 for identical signals, ignores the output's
    level, and has a finite gradient."""
    import numpy as np
    pytest.importorskip("pystoi", reason="needs the eval extra (pip install 'audiogan[eval]'): pystoi")
    from pystoi import stoi

    from audiogan.audio.data.synthetic import synth_utterance

    rng = np.random.default_rng(0)
    speech = synth_utterance(4.0, 16000, rng).astype(np.float32) * 0.5
    blocks = speech[: len(speech) // 256 * 256].reshape(-1, 256)
    energy = 10 * np.log10((blocks ** 2).mean(1) + 1e-12)
    clean = blocks[energy > energy.max() - 25].reshape(-1)  # the pauses cut out
    x = torch.from_numpy(clean)[None, None]
    assert float(stoi_loss(x, x)) == pytest.approx(0.0, abs=1e-5)
    assert float(stoi_loss(0.3 * x, x)) == pytest.approx(0.0, abs=1e-5)
    for snr_db in (0.0, 10.0):
        noise = rng.standard_normal(len(clean)).astype(np.float32)
        noisy = clean + noise * np.std(clean) / np.std(noise) * 10 ** (-snr_db / 20)
        d = 1 - float(stoi_loss(torch.from_numpy(noisy)[None, None], x))
        assert d == pytest.approx(stoi(clean, noisy, 16000), abs=0.03)
    y = torch.from_numpy(noisy)[None, None].requires_grad_()
    stoi_loss(y, x).backward()
    assert torch.isfinite(y.grad).all() and y.grad.abs().sum() > 0


def test_sisdr_loss_against_the_evaluation_metric_and_its_cap():
    """-sisdr_loss is the evaluation's SI-SDR (a separate numpy implementation) for errors well above the
    30 dB cap, ignores the output's level, is -30 for an exact copy, and keeps a finite gradient there."""
    import numpy as np

    from audiogan.audio.evaluate.metrics import si_sdr

    g = torch.Generator().manual_seed(0)
    clean = torch.randn(3, 1, 8000, generator=g) * 0.1
    for snr_db in (0.0, 10.0):
        noisy = clean + torch.randn(3, 1, 8000, generator=g) * 0.1 * 10 ** (-snr_db / 20)
        expected = np.mean([si_sdr(n[0].double().numpy(), c[0].double().numpy()) for n, c in zip(noisy, clean)])
        got = -float(sisdr_loss(noisy, clean))
        # The cap adds 0.1 % of the target's energy to the error: under 0.05 dB at these levels.
        assert got == pytest.approx(expected, abs=0.05) and abs(got - snr_db) < 0.5
        assert float(sisdr_loss(2.5 * noisy, clean)) == pytest.approx(-got, abs=1e-4)
    copy = clean.clone().requires_grad_()
    loss = sisdr_loss(copy, clean)
    loss.backward()
    assert float(loss.detach()) == pytest.approx(-30.0, abs=1e-3)
    assert torch.isfinite(copy.grad).all()
