"""Non-stationary noise made here, a user's noise folder, and the pre-degraded segment cache."""

import itertools
import json

import librosa
import numpy as np
import pytest
import scipy.signal
import soundfile as sf
import torch

from audiogan.audio.data.cache import CachedDataset, build_cache, make_dataset, read_meta
from audiogan.audio.data.dataset import DataConfig, EnhancementDataset, formant_shift, make_loader, random_shaping
from audiogan.audio.data.files import CorpusReport
from audiogan.audio.data.noise import NoiseBank, NoiseConfig
from audiogan.audio.degrade import noise as N
from audiogan.audio.degrade.registry import CLASSIC, DEGRADATIONS, DegradeConfig, degrade
from audiogan.errors import DataError

SR = 16000
AMBIENT = [name for name, d in DEGRADATIONS.items() if d.family == "ambient"]


def _snr(clean, noisy):
    return 10 * np.log10(np.mean(clean.astype(np.float64) ** 2) / np.mean((noisy - clean).astype(np.float64) ** 2))


def test_mix_at_snr_hits_the_snr():
    rng = np.random.default_rng(0)
    x, n = rng.standard_normal(8000), rng.standard_normal(8000) * 7
    for snr in (0.0, 10.0, 25.0):
        assert _snr(x, N.mix_at_snr(x, n, snr)) == pytest.approx(snr, abs=1e-3)


@pytest.mark.parametrize("name", AMBIENT)
def test_each_ambient_noise_is_seeded_keeps_length_and_sets_the_snr(name, speech):
    d = DEGRADATIONS[name]
    args = (speech, SR, None, 0.5) + (([speech[::-1].copy(), speech * 0.5],) if d.needs_pool else ())
    a = d.fn(*args[:2], np.random.default_rng(3), *args[3:])
    b = d.fn(*args[:2], np.random.default_rng(3), *args[3:])
    assert np.array_equal(a, b) and a.shape == speech.shape and a.dtype == np.float32
    assert 10 <= _snr(speech, a) <= 20  # strength 0.5: 15 dB, +-3 dB of jitter
    severe = d.fn(*args[:2], np.random.default_rng(3), 1.0, *args[4:])
    assert _snr(speech, severe) < 4


def test_classic_default_and_babble_needs_speech(speech):
    assert DegradeConfig().names == CLASSIC and not set(AMBIENT) & set(CLASSIC)
    cfg = DegradeConfig(names=["babble", "hum"], max_chain=2)
    for seed in range(5):
        _, chain = degrade(speech, SR, np.random.default_rng(seed), cfg, names=["babble", "hum"])
        assert chain == ["hum"]  # no speech pool: babble is left out of the draw
    _, chains = zip(*[degrade(speech, SR, np.random.default_rng(s), cfg, names=["babble", "hum"], speech=[speech])
                      for s in range(8)])
    assert any("babble" in c for c in chains)


def test_noise_bank_mixes_a_users_recordings(tmp_path, speech):
    folder = tmp_path / "noise"
    folder.mkdir()
    sf.write(folder / "room.wav", np.random.default_rng(1).standard_normal(4000) * 0.1, SR)
    bank = NoiseBank(NoiseConfig(dirs=[str(folder)], snr_db=[5.0, 5.0], prob=1.0), SR, CorpusReport())
    y = bank.apply(speech, np.random.default_rng(0))
    assert _snr(speech, y) == pytest.approx(5.0, abs=0.01)
    assert not NoiseBank(NoiseConfig(), SR, CorpusReport())
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no usable noise"):
        NoiseBank(NoiseConfig(dirs=[str(tmp_path / "empty")]), SR, CorpusReport())
    with pytest.raises(ValueError, match="snr_db"):
        NoiseConfig(snr_db=[10.0, 0.0])


def _data(**kw):
    return DataConfig(mode="synthetic", synthetic_utterances=2, segment_seconds=0.125, batch_size=2,
                      degrade=DegradeConfig(names=["noise", "quantize", "hum"]), **kw)


def test_cache_holds_the_on_the_fly_items_and_serves_them_as_a_pure_function(tmp_path):
    data = _data()
    meta = build_cache(data, SR, 7, tmp_path / "c", segments=10, validation=3, shard_size=4)
    assert meta["complete"] and sorted(p.name for p in (tmp_path / "c").glob("*.npy")) == [
        "train_00000.npy", "train_00001.npy", "train_00002.npy", "valid.npy"]
    fly = EnhancementDataset(data, SR, 7)
    shard = np.load(tmp_path / "c" / "train_00001.npy")
    d, c = fly[5]
    assert np.abs(shard[1, 0] / 32767 - d[0].numpy()).max() <= 1 / 32767 + 1e-6  # item 5 = shard 1, row 1
    assert np.abs(shard[1, 1] / 32767 - c[0].numpy()).max() <= 1 / 32767 + 1e-6
    cached = make_dataset(DataConfig(mode="cached", cache=str(tmp_path / "c"), batch_size=2), SR, 1)
    assert isinstance(cached, CachedDataset) and cached.count == 10 and len(cached.validation()) == 3
    epoch0 = {float(cached[i][1].sum()) for i in range(10)}
    assert len(epoch0) == 10  # every segment once per epoch
    assert all(torch.equal(a, b) for a, b in zip(cached[13], make_dataset(cached.cfg, SR, 1)[13]))
    first = next(iter(make_loader(cached, 3)))
    skipped = iter(make_loader(cached, 0))
    for _ in range(3):
        next(skipped)
    assert all(torch.equal(a, b) for a, b in zip(first, next(skipped)))


def test_cache_resumes_extends_and_refuses_another_config(tmp_path):
    data = _data()
    build_cache(data, SR, 7, tmp_path / "c", segments=8, validation=0, shard_size=4)
    first = (tmp_path / "c" / "train_00000.npy").stat().st_mtime_ns
    (tmp_path / "c" / "train_00001.npy").unlink()  # as if stopped before this shard
    build_cache(data, SR, 7, tmp_path / "c", segments=12, validation=0, shard_size=4)
    assert (tmp_path / "c" / "train_00000.npy").stat().st_mtime_ns == first  # kept, not redone
    assert read_meta(tmp_path / "c")["segments"] == 12 and (tmp_path / "c" / "train_00002.npy").exists()
    with pytest.raises(DataError, match="another data config"):
        build_cache(_data(gain_db=[-6.0, 0.0]), SR, 7, tmp_path / "c", segments=8, validation=0, shard_size=4)
    meta = json.loads((tmp_path / "c" / "cache.json").read_text())
    (tmp_path / "c" / "cache.json").write_text(json.dumps({**meta, "complete": False}))
    with pytest.raises(DataError, match="incomplete"):
        CachedDataset(DataConfig(mode="cached", cache=str(tmp_path / "c")), SR, 0)


def test_corpus_cache_cli_renders_and_reports(tmp_path):
    from typer.testing import CliRunner

    from audiogan.cli import app

    cfg = tmp_path / "data.yaml"
    cfg.write_text("data: {mode: synthetic, synthetic_utterances: 2, segment_seconds: 0.25,\n"
                   "       degrade: {names: [noise, hum]}}\n")
    res = CliRunner().invoke(app, ["corpus", "cache", str(cfg), "--out", str(tmp_path / "c"), "--hours", "0.002",
                                   "--validation", "2"])
    assert res.exit_code == 0, res.output
    assert "29 training + 2 validation segments of 0.25 s" in res.output
    assert read_meta(tmp_path / "c")["segments"] == 29
    bad = CliRunner().invoke(app, ["corpus", "cache", str(cfg), "--out", str(tmp_path / "d"), "--hours", "0"])
    assert bad.exit_code == 2 and "Traceback" not in bad.output


def test_identity_examples_serve_the_clean_target_as_input_and_leave_the_rest_alone(tmp_path):
    """``identity_fraction`` of the training examples have their clean target as input (on the fly and from a
    cache); the other examples are exactly those of a run without any, and validation examples stay damaged."""
    data = _data()
    build_cache(data, SR, 7, tmp_path / "c", segments=16, validation=8, shard_size=8)
    plain_fly, fly = EnhancementDataset(data, SR, 7), EnhancementDataset(_data(identity_fraction=0.5), SR, 7)
    cache_cfg = dict(mode="cached", cache=str(tmp_path / "c"))
    plain_cached = make_dataset(DataConfig(**cache_cfg), SR, 1)
    cached = make_dataset(DataConfig(**cache_cfg, identity_fraction=0.5), SR, 1)
    for with_identity, plain in ((fly, plain_fly), (cached, plain_cached)):
        same = 0
        for i in range(64):
            (d, c), (pd, pc) = with_identity[i], plain[i]
            assert torch.equal(c, pc)
            if torch.equal(d, c):
                same += 1
            else:
                assert torch.equal(d, pd)
        assert 20 <= same <= 44  # about half of 64
        for (d, c), (pd, pc) in zip(with_identity.validation(8), plain.validation(8)):
            assert torch.equal(d, pd) and torch.equal(c, pc)
    with pytest.raises(DataError, match="damaged inputs only"):
        build_cache(_data(identity_fraction=0.1), SR, 7, tmp_path / "c2", segments=8)
    with pytest.raises(ValueError, match="identity_fraction"):
        _data(identity_fraction=1.0)


def _pitch(x: np.ndarray) -> float:
    """The strongest frequency of ``x`` (Hz), to within a bin of a 4x zero-padded FFT."""
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x)), 4 * len(x)))
    return float(np.fft.rfftfreq(4 * len(x), 1 / SR)[spectrum.argmax()])


def test_speed_perturbation_scales_pitch_in_training_only(tmp_path):
    """``data.speed`` resamples the clean speech of training examples by a factor from its range: a 200 Hz tone
    comes out at 200 x factor, the segment keeps its length, validation examples keep the tone as recorded,
    and a config without it draws exactly the examples it drew before the option existed."""
    t = np.arange(3 * SR) / SR
    sf.write(tmp_path / "tone.wav", (0.5 * np.sin(2 * np.pi * 200 * t)).astype(np.float32), SR)
    data = lambda **kw: DataConfig(mode="clean", clean=[str(tmp_path / "tone.wav")], segment_seconds=0.5,  # noqa: E731
                                   degrade=DegradeConfig(names=["quantize"]), **kw)
    for factor in (0.9, 1.25):
        fast = EnhancementDataset(data(speed=[factor, factor]), SR, 3)
        for i in range(3):
            _, clean = fast[i]
            assert clean.shape == (1, SR // 2)
            assert _pitch(clean[0].numpy()) == pytest.approx(200 * factor, abs=3)
        assert _pitch(fast.validation(1)[0][1][0].numpy()) == pytest.approx(200, abs=3)
    plain, unit = EnhancementDataset(data(), SR, 3), EnhancementDataset(data(speed=[1.0, 1.0]), SR, 3)
    for i in range(4):
        assert all(torch.equal(a, b) for a, b in zip(plain[i], unit[i]))
    ranged = EnhancementDataset(data(speed=[0.9, 1.1]), SR, 3)
    pitches = [_pitch(ranged[i][1][0].numpy()) for i in range(16)]
    assert 180 - 3 <= min(pitches) < max(pitches) <= 220 + 3 and max(pitches) - min(pitches) > 10
    build_cache(data(speed=[1.25, 1.25]), SR, 3, tmp_path / "c", segments=4, validation=2, shard_size=4)
    cached = make_dataset(DataConfig(mode="cached", cache=str(tmp_path / "c")), SR, 0)
    assert _pitch(cached[0][1][0].numpy()) == pytest.approx(250, abs=3)
    assert _pitch(cached.validation(1)[0][1][0].numpy()) == pytest.approx(200, abs=3)
    for mode, needle in (("cached", "make the cache with it"), ("paired", "not in mode 'paired'")):
        with pytest.raises(ValueError, match=needle):
            DataConfig(mode=mode, cache="c", clean=["a"], degraded=["b"], speed=[0.9, 1.1])
    with pytest.raises(ValueError, match="speed must be"):
        data(speed=[1.1, 0.9])


def _top_share_db(x: torch.Tensor, hz: float) -> float:
    """The share of ``x``'s energy above ``hz``, in dB."""
    power = np.abs(np.fft.rfft(x[0].numpy().astype(np.float64) * np.hanning(x.shape[-1]))) ** 2
    return float(10 * np.log10(power[np.fft.rfftfreq(x.shape[-1], 1 / SR) > hz].sum() / power.sum() + 1e-30))


def test_a_slowed_example_s_input_is_cut_where_its_target_is(tmp_path):
    """Slowed by 0.88, white noise has nothing above 0.88 x 8 kHz; with ``speed_band`` (the default) its
    quantised input is cut at the same edge, without it the quantisation noise above stays; a faster example and the
    target are the same either way, and a cache made before the option existed counts as made without it."""
    sf.write(tmp_path / "white.wav", 0.3 * np.random.default_rng(0).standard_normal(2 * SR).astype(np.float32), SR)
    data = lambda **kw: DataConfig(mode="clean", clean=[str(tmp_path / "white.wav")], segment_seconds=0.5,  # noqa: E731
                                   degrade=DegradeConfig(names=["quantize"], min_strength=1.0), **kw)
    edge = 0.88 * SR / 2 + 150  # past the resampler's transition band
    cut, kept = (EnhancementDataset(data(speed=[0.88, 0.88], speed_band=b), SR, 3) for b in (True, False))
    for i in range(3):
        (d, c), (d_kept, c_kept) = cut[i], kept[i]
        assert torch.equal(c, c_kept) and _top_share_db(c, edge) < -100
        assert _top_share_db(d_kept, edge) > -30  # the quantisation noise is there
        assert _top_share_db(d, edge) < -100
        below = np.fft.rfftfreq(d.shape[-1], 1 / SR) < 0.88 * SR / 2 - 500
        spec, spec_kept = (np.abs(np.fft.rfft(x[0].numpy()))[below] for x in (d, d_kept))
        assert np.abs(spec - spec_kept).max() < 1e-2 * spec_kept.max()  # the band below is left as it was
    fast = [EnhancementDataset(data(speed=[1.1, 1.1], speed_band=b), SR, 3) for b in (True, False)]
    assert all(torch.equal(a, b) for a, b in zip(fast[0][0], fast[1][0]))
    # unpaired: the input is another recording, not made from the slowed target: left as it is
    unpaired = [EnhancementDataset(DataConfig(mode="unpaired", clean=[str(tmp_path / "white.wav")],
                                              degraded=[str(tmp_path / "white.wav")], segment_seconds=0.5,
                                              speed=[0.88, 0.88], speed_band=b), SR, 3) for b in (True, False)]
    assert all(torch.equal(a, b) for a, b in zip(unpaired[0][0], unpaired[1][0]))
    assert _top_share_db(unpaired[0][0][0], edge) > -30
    build_cache(data(speed=[0.88, 0.88], speed_band=False), SR, 3, tmp_path / "c", segments=2, validation=0,
                shard_size=2)
    meta = json.loads((tmp_path / "c" / "cache.json").read_text())
    del meta["data"]["speed_band"]
    (tmp_path / "c" / "cache.json").write_text(json.dumps(meta))
    build_cache(data(speed=[0.88, 0.88], speed_band=False), SR, 3, tmp_path / "c", segments=4, validation=0,
                shard_size=2)
    with pytest.raises(DataError, match="another data config"):
        build_cache(data(speed=[0.88, 0.88]), SR, 3, tmp_path / "c", segments=6, validation=0, shard_size=2)


def test_a_cache_made_before_a_data_option_existed_resumes(tmp_path):
    """A cache whose saved data config lacks a field added since (at its default) is the same config."""
    data = _data()
    build_cache(data, SR, 7, tmp_path / "c", segments=4, validation=0, shard_size=4)
    meta = json.loads((tmp_path / "c" / "cache.json").read_text())
    del meta["data"]["speed"]
    (tmp_path / "c" / "cache.json").write_text(json.dumps(meta))
    build_cache(data, SR, 7, tmp_path / "c", segments=8, validation=0, shard_size=4)
    assert read_meta(tmp_path / "c")["segments"] == 8


def test_random_shaping_is_the_second_order_filter_it_draws():
    """``random_shaping`` equals the difference equation of the filter whose coefficients it draws, and every
    filter in its range is stable (poles of ``1 + c z^-1 + d z^-2`` inside the unit circle at the corners)."""
    x = np.random.default_rng(0).standard_normal(400).astype(np.float32)
    y = random_shaping(x, np.random.default_rng(5), 0.375)
    a, b, c, d = np.random.default_rng(5).uniform(-0.375, 0.375, 4)
    ref = np.zeros(len(x))
    for n in range(len(x)):
        past = lambda v, k: v[n - k] if n >= k else 0.0  # noqa: E731
        ref[n] = x[n] + a * past(x, 1) + b * past(x, 2) - c * past(ref, 1) - d * past(ref, 2)
    assert y.dtype == np.float32 and np.allclose(y, ref, atol=1e-5)
    for c, d in itertools.product((-0.499, 0.499), repeat=2):
        assert np.abs(np.roots([1.0, c, d])).max() < 1


def test_shaping_colours_training_speech_only(tmp_path):
    """``data.shaping`` changes the spectrum of training targets (not their length), leaves validation
    examples as recorded, draws nothing when 0 (the examples of configs without it stay the same), and is
    refused where speech is not degraded here (cached, paired)."""
    noise = 0.2 * np.random.default_rng(1).standard_normal(3 * SR)
    sf.write(tmp_path / "noise.wav", noise.astype(np.float32), SR)
    data = lambda **kw: DataConfig(mode="clean", clean=[str(tmp_path / "noise.wav")], segment_seconds=0.5,  # noqa: E731
                                   degrade=DegradeConfig(names=["quantize"]), **kw)
    plain, off, shaped = (EnhancementDataset(data(**kw), SR, 3) for kw in ({}, {"shaping": 0.0}, {"shaping": 0.375}))
    tilts = []
    for i in range(6):
        assert all(torch.equal(p, o) for p, o in zip(plain[i], off[i]))
        clean = shaped[i][1][0].numpy()
        assert clean.shape == (SR // 2,)
        power = np.abs(np.fft.rfft(clean)) ** 2
        tilts.append(10 * np.log10(power[len(power) // 2:].mean() / power[:len(power) // 2].mean()))
    assert max(tilts) - min(tilts) > 3  # white noise comes out coloured, differently per example
    for (d, c), (pd, pc) in zip(shaped.validation(4), plain.validation(4)):
        assert torch.equal(d, pd) and torch.equal(c, pc)
    for mode, needle in (("cached", "make the cache with it"), ("paired", "not in mode 'paired'")):
        with pytest.raises(ValueError, match=needle):
            DataConfig(mode=mode, cache="c", clean=["a"], degraded=["b"], shaping=0.2)
    with pytest.raises(ValueError, match="shaping must be"):
        data(shaping=0.5)


def _vowel(f0: float = 150.0, formant: float = 1000.0, seconds: float = 1.0) -> np.ndarray:
    """A pulse train at ``f0`` through one resonance at ``formant`` Hz (bandwidth 100 Hz): a one-formant vowel."""
    n = int(seconds * SR)
    pulses = np.zeros(n)
    pulses[::int(round(SR / f0))] = 1.0
    r, theta = np.exp(-np.pi * 100 / SR), 2 * np.pi * formant / SR
    return (0.1 * scipy.signal.lfilter([1.0], [1.0, -2 * r * np.cos(theta), r * r], pulses)).astype(np.float32)


def _lpc_formant(x: np.ndarray) -> float:
    """The resonance frequency (Hz) of an order-2 LPC fit of ``x``: an estimate independent of the STFT."""
    a = librosa.lpc(x.astype(np.float64), order=2)
    return float(abs(np.angle(np.roots(a)[0])) * SR / (2 * np.pi))


def test_formant_shift_moves_the_resonance_and_keeps_the_pitch():
    """``formant_shift`` by 1.2 moves a one-formant vowel's resonance from 1,000 Hz to about 1,200 (an LPC fit,
    not the STFT it works in, measures it) and keeps its 150 Hz pitch and its length; factor 1 is the input
    itself."""
    x = _vowel()
    assert _lpc_formant(x) == pytest.approx(1000, abs=40)
    for factor in (0.85, 1.2):
        y = formant_shift(x, factor)
        assert y.shape == x.shape and y.dtype == np.float32
        assert _lpc_formant(y) == pytest.approx(1000 * factor, rel=0.06)
        lags = np.correlate(y, y, "full")[len(y) - 1:][40:200]  # periods 2.5 to 12.5 ms
        assert 40 + int(lags.argmax()) == pytest.approx(SR / 150, abs=1)
    assert formant_shift(x, 1.0) is x


def test_formant_warps_training_speech_only(tmp_path):
    """``data.formant`` moves the resonance of training targets within its range, leaves validation examples
    as recorded, draws nothing at [1, 1] (configs without it keep their examples), draws its factor apart from
    every other choice (a warped example's input is the same damage of the same crop: at factor 1 it equals
    the plain example), and is refused where speech is not degraded here."""
    sf.write(tmp_path / "vowel.wav", _vowel(seconds=3.0), SR)
    data = lambda **kw: DataConfig(mode="clean", clean=[str(tmp_path / "vowel.wav")], segment_seconds=0.5,  # noqa: E731
                                   degrade=DegradeConfig(names=["quantize"]), **kw)
    plain, off, warped = (EnhancementDataset(data(**kw), SR, 3) for kw in ({}, {"formant": [1.0, 1.0]},
                                                                            {"formant": [0.85, 1.2]}))
    formants = []
    for i in range(8):
        assert all(torch.equal(p, o) for p, o in zip(plain[i], off[i]))
        formants.append(_lpc_formant(warped[i][1][0].numpy()))
    assert 800 < min(formants) and max(formants) < 1300 and max(formants) - min(formants) > 100
    for (d, c), (pd, pc) in zip(warped.validation(3), plain.validation(3)):
        assert torch.equal(d, pd) and torch.equal(c, pc)
    unit = EnhancementDataset(data(formant=[1.0, 1.0 + 1e-12]), SR, 3)  # draws a factor, warps by ~1
    for i in range(4):
        assert all(np.allclose(a.numpy(), b.numpy(), atol=1e-5) for a, b in zip(plain[i], unit[i]))
    with pytest.raises(ValueError, match="make the cache with it"):
        DataConfig(mode="cached", cache="c", formant=[0.9, 1.1])
    with pytest.raises(ValueError, match="formant must be"):
        data(formant=[1.2, 1.1])


def _band_levels(y: np.ndarray, window: int, edges: np.ndarray) -> np.ndarray:
    """dB level of each band ``[edges[k], edges[k+1])`` in each ``window``-sample stretch of ``y`` (rows)."""
    freqs = np.fft.rfftfreq(window, 1 / SR)
    rows = []
    for k in range(0, len(y) - window + 1, window):
        power = np.abs(np.fft.rfft(y[k:k + window])) ** 2
        rows.append([10 * np.log10(power[(freqs >= lo) & (freqs < hi)].mean()) for lo, hi in zip(edges, edges[1:])])
    return np.array(rows)


def test_texture_noise_has_a_random_colour_that_drifts():
    """The texture's spectrum is far from flat (1/3-octave band levels span more than 5 dB in every half
    second; white noise: about 2) and it changes over time: its octave band levels vary across half seconds
    more than twice as much as those of the same spectrum made stationary (phases randomised)."""
    x = np.full(4 * SR, 1e-3, dtype=np.float32)  # mix_at_snr needs some power in x
    thirds, octaves = 100 * 2 ** (np.arange(19) / 3), 100 * 2 ** np.arange(7.0)
    for seed in range(5):
        y = N.texture(x, SR, np.random.default_rng(seed), 0.5) - x
        levels = _band_levels(y, SR // 2, thirds)
        assert (levels.max(axis=1) - levels.min(axis=1)).min() > 5
        spectrum = np.fft.rfft(y)
        phases = np.exp(2j * np.pi * np.random.default_rng(seed).random(len(spectrum)))
        steady = np.fft.irfft(np.abs(spectrum) * phases, len(y))
        moving = _band_levels(y, SR // 2, octaves).std(axis=0).mean()
        assert moving > 2 * _band_levels(steady, SR // 2, octaves).std(axis=0).mean()
