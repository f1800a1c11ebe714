import math

import pytest
import torch
from torch.nn.utils import parametrize
from torch.testing import assert_close

from audiogan.audio.models import SpectralGainConfig, WaveGenerator, WaveGeneratorConfig, make_generator
from audiogan.audio.models.blocks import valid_length
from audiogan.audio.models.critic import AudioCritic, CriticConfig
from audiogan.audio.losses import (compressed_magnitude_loss, log_magnitude, stoi_loss, third_octave_matrix,
                                   thresholded_stft_loss)

SMALL = WaveGeneratorConfig(channels=16, strides=[2, 4], blocks=5, kernel_size=3)
SPECTRAL = SpectralGainConfig(n_fft=64, channels=8, blocks=3)


@pytest.mark.parametrize("config_type", [WaveGeneratorConfig, SpectralGainConfig])
def test_default_generator_is_very_deep(config_type):
    cfg = config_type()
    convs = [m for m in make_generator(cfg).modules() if isinstance(m, (torch.nn.Conv1d, torch.nn.ConvTranspose1d))]
    assert len(convs) == cfg.conv_layers >= 32


@pytest.mark.parametrize("cfg", [SMALL, SPECTRAL, WaveGeneratorConfig(channels=16, strides=[2, 4], blocks=2, skips=True)])
@pytest.mark.parametrize("length", [1, 7, 8, 9, 100, 1001])
def test_generator_any_length(length, cfg):
    g = make_generator(cfg)
    x = torch.randn(2, 1, length)
    assert g(x).shape == x.shape


def test_valid_length():
    assert [valid_length(n, 16) for n in (1, 15, 16, 17, 1000)] == [16, 16, 16, 32, 1008]


@pytest.mark.parametrize("config_type", [WaveGeneratorConfig, SpectralGainConfig])
def test_generator_starts_near_identity(config_type):
    g = make_generator(config_type())
    x = torch.randn(1, 1, 4000) * 0.3
    assert float((g(x) - x).detach().abs().max()) < 0.05


def test_spectral_gain_generator_applies_its_gain_to_the_stft():
    """The output is iSTFT(gain * STFT(x)) with gain = max_gain * sigmoid(logit + offset) in (0, max_gain),
    checked here by forcing the last conv to a known constant logit."""
    cfg = SpectralGainConfig(n_fft=64, channels=8, blocks=2, max_gain=2.0)
    g = make_generator(cfg)
    torch.nn.init.zeros_(g.to_gain.weight)
    for logit, gain in ((0.0, 1.0), (math.log(3.0), 1.5), (-50.0, 0.0)):
        torch.nn.init.constant_(g.to_gain.bias, logit)  # sigmoid(log 3 + log 1) * 2 = 1.5
        x = torch.randn(1, 1, 1600)
        assert_close(g(x).detach(), gain * x, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("cfg", [SMALL, WaveGeneratorConfig(channels=8, strides=[4, 4], blocks=4, kernel_size=5),
                                 WaveGeneratorConfig(channels=8, strides=[4, 4], blocks=3, skips=True), SPECTRAL])
def test_receptive_field_matches_gradient_support(cfg):
    """The correction at one output sample depends on input within the computed field (up to one hop;
    for the STFT-gain generator the field counts every window in full, and Hann windows end in zeros)."""
    g = make_generator(cfg)
    widest = 0
    for pos in range(2000, 2000 + cfg.hop * 2):
        # A gain's gradient through the magnitude vanishes where the STFT is 0: random input for it.
        x = (torch.randn(1, 1, 4096) if cfg.kind == "spectral_gain" else torch.zeros(1, 1, 4096)).requires_grad_()
        g(x)[0, 0, pos].backward()
        support = (x.grad[0, 0].abs() > 0).nonzero().flatten()
        support = support[support != pos]  # the identity skip
        widest = max(widest, int(support.max() - support.min() + 1))
    if cfg.kind == "spectral_gain":
        assert widest <= cfg.receptive_field() <= widest + 2 * cfg.hop
    else:
        assert abs(widest - cfg.receptive_field()) <= cfg.hop


def test_decoder_adds_no_comb_of_tones():
    """Silence in: the correction away from the edges is constant for the interpolating decoder (a
    transposed-conv decoder would turn its biases into a pattern of period hop, tones at rate / hop),
    while the biases do reach the output."""
    torch.manual_seed(0)
    g = WaveGenerator(WaveGeneratorConfig(channels=16, blocks=2))
    with torch.no_grad():
        for p in g.parameters():
            if p.ndim == 1:
                p.normal_(0.0, 0.1)  # non-zero biases everywhere
        middle = g(torch.zeros(1, 1, 4096))[0, 0, 1024:3072]
    assert float(middle.abs().mean()) > 1e-4
    assert float(middle.std()) < 1e-6 * float(middle.abs().mean()) + 1e-7


def test_generator_every_depth_keeps_names_and_alpha_blends():
    g = WaveGenerator(SMALL)
    names = [n for n, _ in g.named_parameters()]
    x = torch.randn(1, 1, 64)
    for depth in range(SMALL.blocks + 1):
        assert g(x, depth=depth).shape == x.shape
        assert [n for n, _ in g.named_parameters()] == names
    assert_close(g(x, depth=3, alpha=0.0), g(x, depth=2))


def test_critic_spectral_norm_everywhere_and_outputs():
    cfg = CriticConfig(stft_sizes=[128, 256], waveform_scales=2, channels=8, blocks=2)
    c = AudioCritic(cfg)
    convs = [m for m in c.modules() if isinstance(m, (torch.nn.Conv1d, torch.nn.Conv2d))]
    assert convs and all(parametrize.is_parametrized(m, "weight") for m in convs)
    scores, feats = c(torch.randn(3, 1, 2000))
    assert scores.shape == (3, 4) and len(feats) == 8
    assert c(torch.randn(3, 1, 2000), depth=1)[0].shape == (3, 4)


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


def test_unet_skips_feed_the_encoder_into_the_decoder():
    """With skips the last decoder stage reads act(h + e): h from the stage before, e the first encoder
    stage's output at the same resolution; without, act(h)."""
    torch.manual_seed(0)
    plain = WaveGenerator(WaveGeneratorConfig(channels=8, strides=[2, 4], blocks=2))
    skipped = WaveGenerator(WaveGeneratorConfig(channels=8, strides=[2, 4], blocks=2, skips=True))
    skipped.load_state_dict(plain.state_dict())
    x = torch.randn(1, 1, 800)
    seen, before = {}, {}
    for name, g in (("plain", plain), ("skipped", skipped)):
        g.decoder[0].register_forward_hook(lambda m, inp, out, name=name: before.__setitem__(name, out))
        g.decoder[1].register_forward_pre_hook(lambda m, inp, name=name: seen.__setitem__(name, inp[0]))
        g(x)
    encoded = plain.act(plain.encoder[0](x))
    assert_close(seen["plain"], plain.act(before["plain"]))
    assert_close(seen["skipped"], plain.act(before["skipped"] + encoded))


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
    from pystoi.utils import thirdoct

    for rate, n_fft in ((10000, 512), (16000, 1024)):
        reference, _ = thirdoct(rate, n_fft, 15, 150)
        assert_close(third_octave_matrix(rate, n_fft), torch.from_numpy(reference).float())


def test_stoi_loss_tracks_pystoi():
    """1 - stoi_loss follows pystoi's STOI (which works at 10 kHz) to within 0.03 on speech without pauses
    (pystoi drops silent frames, the loss keeps them), is 0 for identical signals, ignores the output's
    level, and has a finite gradient."""
    import numpy as np
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
