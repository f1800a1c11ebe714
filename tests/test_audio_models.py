import math

import pytest
import torch
from torch.nn.utils import parametrize
from torch.testing import assert_close

from audiogan.audio.models import SpectralGainConfig, WaveGenerator, WaveGeneratorConfig, make_generator
from audiogan.audio.models.blocks import valid_length
from audiogan.audio.models.critic import AudioCritic, CriticConfig

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


class _Identity(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(()))

    def forward(self, x, **_):
        return x * self.scale


def test_paired_feature_matching_scores_target_and_output_in_the_same_crop():
    """critic.crop draws a window per call: paired feature matching passes target and output through the
    critic in one call, so an output equal to its target matches it exactly (separate calls would compare
    the features of two different windows: the loss would not be 0)."""
    from audiogan.gan import AdversarialConfig, AdversarialTrainer

    torch.manual_seed(0)
    critic = AudioCritic(CriticConfig(stft_sizes=[256], periods=[2], channels=4, blocks=1, crop=1024))
    gen = _Identity()
    real = torch.randn(3, 1, 4000)
    for paired, zero in ((True, True), (False, False)):
        cfg = AdversarialConfig(loss="wasserstein", fm_paired=paired, weights={"loss/fm": 1.0, "loss/adv": 1.0})
        tr = AdversarialTrainer(gen, critic, torch.optim.SGD(gen.parameters(), lr=0.0),
                                torch.optim.SGD(critic.parameters(), lr=0.0), cfg)
        critic.train()
        stats = tr.generator_step(real, real)
        assert (stats["loss/fm"] == 0.0) is zero and math.isfinite(stats["loss/adv"])
    with pytest.raises(AssertionError):  # the crop is really drawn per call
        assert_close(critic(real)[0], critic(real)[0])
