"""The live instability detectors, each on a tiny synthetic trace: it fires on its failure at the step an
independent computation predicts, and stays silent on a healthy trace; then the Monitor's events, console
warnings, files and exact rebuild on resume."""

import json
import logging
import math

import numpy as np
import pytest

from audiogan.gan import AdversarialConfig, DiagnosticsConfig, Monitor
from audiogan.gan.detectors import CHANCE_LOSS, peak_power, plateau_ratio
from audiogan.gan.diagnostics import EVENTS_NAME, TRACE_NAME, Event, read_events, read_trace

CFG = DiagnosticsConfig()
EVERY = CFG.every


def trace(n, **series):
    """``n`` samples every ``EVERY`` steps; each keyword is a function of the sample index, or a constant."""
    return [{"step": EVERY * (i + 1), **{k.replace("__", "/"): (v(i) if callable(v) else v) for k, v in series.items()}}
            for i in range(n)]


def events(samples, loss="wasserstein", config=CFG):
    monitor = Monitor(config, AdversarialConfig(loss=loss))
    for s in samples:
        monitor.observe(s)
    return monitor.events


def first_median_below(values, limit, patience=CFG.patience):
    """Index of the first sample whose trailing median of ``patience`` values is below ``limit`` (numpy)."""
    for i in range(patience - 1, len(values)):
        if np.median(values[i - patience + 1:i + 1]) < limit:
            return i
    return None


def kinds(evs):
    return [e.kind for e in evs]


def test_vanishing_generator_gradient_under_a_winning_minimax_critic():
    grad = [1.0 * 0.5 ** i for i in range(20)]  # 1 -> 2e-6, never below the absolute floor of 1e-6
    d_loss = [0.001] * 20  # far below 5 % of 2 ln 2
    evs = events(trace(20, grad__generator=lambda i: grad[i], loss__critic=lambda i: d_loss[i]), loss="minimax")
    vanishing = [e for e in evs if e.kind == "vanishing_gradient"]
    assert len(vanishing) == 1
    assert vanishing[0].step == EVERY * (first_median_below(grad, CFG.vanishing_ratio * max(grad)) + 1)
    assert vanishing[0].evidence["peak_grad_G"] == 1.0
    assert "Wasserstein loss" in vanishing[0].remedy
    # The same collapse with the critic at chance (a least-squares GAN settling) is not this failure.
    calm = trace(20, grad__generator=lambda i: grad[i], loss__critic=CHANCE_LOSS["lsgan"])
    assert "vanishing_gradient" not in kinds(events(calm, loss="lsgan"))


def test_vanishing_gradient_below_the_absolute_floor_and_clipping_remedy():
    samples = trace(8, grad__generator=1e-9, loss__critic=0.0)
    evs = Monitor(CFG, AdversarialConfig(loss="wasserstein", clip_value=0.01))
    for s in samples:
        evs.observe(s)
    assert [(e.kind, e.step) for e in evs.events] == [("vanishing_gradient", EVERY * CFG.patience)]
    assert "gradient penalty" in evs.events[0].remedy and "clip_value: null" in evs.events[0].remedy
    assert not events(trace(30, grad__generator=lambda i: 1e-3 * (1 + i % 3)))  # small but alive


def test_exploding_gradients():
    grad = [2.0 ** i for i in range(20)]
    evs = events(trace(20, grad__critic=lambda i: grad[i], grad__generator=1.0))
    assert kinds(evs) == ["exploding_gradient"]
    expected = next(i for i in range(CFG.patience - 1, 20) if np.median(grad[i - CFG.patience + 1:i + 1]) > 1e3)
    assert evs[0].step == EVERY * (expected + 1) and evs[0].evidence["grad_D"] > 1e3
    spikes = trace(40, grad__critic=lambda i: 5e3 if i % 10 == 0 else 2.0)  # single spikes: no event
    assert not events(spikes)


def test_divergence_of_weights_and_of_scores():
    weights = [10.0 * 1.2 ** i for i in range(30)]
    evs = events(trace(30, weights__critic=lambda i: weights[i]))
    expected = next(i for i in range(CFG.patience - 1, 30) if np.median(weights[i - 4:i + 1]) / 10 > CFG.weight_growth)
    assert kinds(evs) == ["divergence"] and evs[0].step == EVERY * (expected + 1)
    assert "spectral norm" in evs[0].remedy
    plateaued = trace(30, weights__critic=lambda i: min(10.0 * 1.2 ** i, 150.0))  # grew 15x, then stopped
    assert kinds(events(plateaued)) == ["divergence"]  # raised while it grew, at most once
    scores = trace(10, critic__real=lambda i: 10.0 ** i, critic__fake=0.0)
    assert kinds(events(scores)) == ["divergence"] and events(scores)[0].evidence["score_D"] > CFG.score_limit
    assert not events(trace(30, weights__critic=lambda i: 10 + 0.1 * i, critic__real=1.0, critic__fake=-1.0))


# Samples until a constant dominated loss raises: the first median after ``patience``, then the run.
DOMINANT_AFTER = CFG.patience + CFG.dominance_samples - 1


@pytest.mark.parametrize("loss", ["minimax", "nonsaturating", "lsgan", "hinge"])
def test_dominant_critic_relative_to_the_chance_loss_of_each_family(loss):
    low = CFG.dominance * CHANCE_LOSS[loss]
    assert kinds(events(trace(DOMINANT_AFTER, loss__critic=0.5 * low), loss=loss)) == ["dominant_critic"]
    assert not events(trace(2 * DOMINANT_AFTER, loss__critic=2 * low), loss=loss)
    assert not events(trace(2 * DOMINANT_AFTER, loss__critic=-5.0), loss="wasserstein")  # no chance value


def test_dominant_critic_only_when_it_stays_dominant():
    """A critic that wins the first iterations and is caught up raises nothing; one that keeps winning raises
    once, ``dominance_samples`` samples after its first dominated median (numpy)."""
    low = 0.5 * CFG.dominance * CHANCE_LOSS["nonsaturating"]
    caught = [low if i < CFG.dominance_samples else 1.0 for i in range(60)]
    medians = [np.median(caught[i - CFG.patience + 1:i + 1]) < 2 * low for i in range(CFG.patience - 1, 60)]
    assert CFG.patience <= sum(medians) < CFG.dominance_samples  # dominated medians, too few in a row
    assert not events(trace(60, loss__critic=lambda i: caught[i]), loss="nonsaturating")
    values = [low if 3 <= i < 40 else 1.0 for i in range(60)]
    kept = events(trace(60, loss__critic=lambda i: values[i]), loss="nonsaturating")
    first = first_median_below(values, CFG.dominance * CHANCE_LOSS["nonsaturating"])
    assert [(e.kind, e.step) for e in kept] == [("dominant_critic", EVERY * (first + CFG.dominance_samples))]
    assert kept[0].evidence["dominant_samples"] == CFG.dominance_samples


def test_dominant_critic_under_label_smoothing_is_measured_from_the_smoothed_floor():
    """With real target 0.9 the BCE critic loss cannot go below the target's entropy (computed here with
    numpy), so a critic that has won sits just above it: found, where measuring from 0 would never be."""
    import numpy as np

    t = 0.9
    floor = float(-(t * np.log(t) + (1 - t) * np.log(1 - t)))  # 0.325
    assert floor > CFG.dominance * CHANCE_LOSS["nonsaturating"]  # the old rule could not fire under smoothing
    won = floor + 0.5 * CFG.dominance * (CHANCE_LOSS["nonsaturating"] - floor)
    smoothed = Monitor(CFG, AdversarialConfig(loss="nonsaturating", real_target=t))
    for sample in trace(DOMINANT_AFTER, loss__critic=won):
        smoothed.observe(sample)
    assert kinds(smoothed.events) == ["dominant_critic"]
    assert not events(trace(DOMINANT_AFTER, loss__critic=won), loss="nonsaturating")  # the same loss unsmoothed
    near_chance = Monitor(CFG, AdversarialConfig(loss="nonsaturating", real_target=t))
    for sample in trace(DOMINANT_AFTER, loss__critic=1.2):
        near_chance.observe(sample)
    assert not near_chance.events


def test_dominant_critic_under_two_sided_smoothing_is_measured_from_both_labels_entropy():
    """Soft labels on both sides (0.9, 0.1) lift the floor to twice the entropy of 0.9 (numpy here): a critic
    that has won sits just above it and is found; under one-sided smoothing the same loss is no win."""
    import numpy as np

    h = float(-(0.9 * np.log(0.9) + 0.1 * np.log(0.1)))
    floor = 2 * h
    won = floor + 0.5 * CFG.dominance * (CHANCE_LOSS["nonsaturating"] - floor)
    two_sided = Monitor(CFG, AdversarialConfig(loss="nonsaturating", real_target=0.9, fake_target=0.1))
    one_sided = Monitor(CFG, AdversarialConfig(loss="nonsaturating", real_target=0.9))
    for sample in trace(DOMINANT_AFTER, loss__critic=won):
        two_sided.observe(sample)
        one_sided.observe(sample)
    assert kinds(two_sided.events) == ["dominant_critic"]
    assert not one_sided.events


def test_mode_collapse_after_warmup_only():
    n = CFG.warmup // EVERY + 20
    evs = events(trace(n, diversity__ratio=0.1, diversity__fake=0.1, diversity__real=1.0))
    assert [(e.kind, e.step) for e in evs] == [("mode_collapse", CFG.warmup)]
    assert not events(trace(n, diversity__ratio=0.8, diversity__fake=0.8, diversity__real=1.0))


@pytest.mark.parametrize("net", ["generator", "critic"])
def test_deep_plateau_compares_the_first_and_last_layer_groups(net):
    groups = [f"grad/{net}/layers.{i}" for i in range(12)]
    stuck = {g: (1e-5 if i < 3 else 1.0) for i, g in enumerate(groups)}  # first quarter 1e-5 of the last
    assert plateau_ratio(stuck, 8, net) == pytest.approx(1e-5)
    evs = events(trace(8, **{k.replace("/", "__"): v for k, v in stuck.items()}))
    assert [(e.kind, e.step) for e in evs] == [("deep_plateau", EVERY * CFG.patience)]
    label = "G" if net == "generator" else "D"
    assert evs[0].evidence == {f"early_late_ratio_{label}": pytest.approx(1e-5), f"layer_groups_{label}": 12.0}
    healthy = {g: 10.0 ** (-i / 11) for i, g in enumerate(groups)}  # one decade from first to last: fine
    assert not events(trace(8, **{k.replace("/", "__"): v for k, v in healthy.items()}))
    shallow = dict(list(stuck.items())[:5])  # too few groups to call a plateau
    assert plateau_ratio(shallow, 8, net) is None
    assert not events(trace(8, **{k.replace("/", "__"): v for k, v in shallow.items()}))


def test_deep_plateau_judges_each_network_alone():
    """A healthy deep generator beside a plateaued deep critic fires (and names the critic); groups of the two
    networks are never pooled into one quarter."""
    g = {f"grad/generator/layers.{i}": 1.0 for i in range(12)}
    d = {f"grad/critic/layers.{i}": (1e-5 if i < 3 else 1.0) for i in range(12)}
    evs = events(trace(8, **{k.replace("/", "__"): v for k, v in {**g, **d}.items()}))
    assert [e.kind for e in evs] == ["deep_plateau"] and "early_late_ratio_D" in evs[0].evidence
    # 1e-5 in the generator's first 3 of 6 groups and the critic's 6 healthy ones: pooled they would be 12
    # groups whose first quarter is stuck, but each network alone has too few to judge.
    few_g = {f"grad/generator/layers.{i}": (1e-5 if i < 3 else 1.0) for i in range(6)}
    few_d = {f"grad/critic/layers.{i}": 1.0 for i in range(6)}
    assert not events(trace(8, **{k.replace("/", "__"): v for k, v in {**few_g, **few_d}.items()}))


def test_deep_plateau_of_a_flat_deep_critic_is_seen_through_the_generator():
    """A deep critic whose depth once cut its gradient (first quarter 1e-5 of the last in the first sample),
    then settled to gradients of one tiny size everywhere: its ratio is back to 1, but the generator, whose
    gradient crosses all of it, gets nothing. A critic as flat whose layers never showed the contrast (weight
    clipping) is the vanishing-gradient detector's alone."""
    layers = [f"grad__critic__layers.{i}" for i in range(12)]
    dipped = lambda i, j: (1e-5 if j < 3 else 1.0) * 1e-3 if i == 0 else 1e-6  # noqa: E731
    flat_g = {"grad__generator": 2e-7}
    evs = events(trace(8, **flat_g, **{k: (lambda i, j=j: dipped(i, j)) for j, k in enumerate(layers)}))
    assert [(e.kind, e.step) for e in evs] == [("vanishing_gradient", EVERY * CFG.patience),
                                               ("deep_plateau", EVERY * CFG.patience)]
    assert evs[1].evidence == {"grad_G": pytest.approx(2e-7), "lowest_early_late_ratio_D": pytest.approx(1e-5),
                               "layer_groups_D": 12.0}
    never = events(trace(8, **flat_g, **{k: 1e-6 for k in layers}))
    assert kinds(never) == ["vanishing_gradient"]
    learning = events(trace(8, grad__generator=0.1, **{k: (lambda i, j=j: dipped(i, j)) for j, k in enumerate(layers)}))
    assert not learning  # one early dip while the generator learns is no plateau


def test_oscillation_fires_on_swings_not_on_noise_or_trend():
    rng = np.random.default_rng(0)
    start = CFG.warmup // EVERY
    n = start + CFG.oscillation_window + 20
    swing = trace(n, loss__critic=lambda i: 1.0 + 0.5 * math.sin(2 * math.pi * i / 8) + 0.1 * rng.standard_normal())
    evs = events(swing)
    assert kinds(evs) == ["oscillation"]
    assert evs[0].step >= max(CFG.warmup, EVERY * (CFG.oscillation_window + CFG.patience - 1))
    noise = trace(n * 3, loss__critic=lambda i: 1.0 + 0.3 * rng.standard_normal())
    trend = trace(n, loss__critic=lambda i: 5.0 - 0.01 * i + 0.05 * rng.standard_normal())
    assert not events(noise) and not events(trend)


def test_peak_power_against_numpy():
    rng = np.random.default_rng(1)
    x = rng.standard_normal(48) + np.sin(2 * np.pi * 6 * np.arange(48) / 48)
    t = np.arange(48)
    r = x - np.polyval(np.polyfit(t, x, 1), t)
    power = np.abs(np.fft.rfft(r))[1:] ** 2
    assert peak_power(list(x)) == pytest.approx(power[2:].max() / power.sum(), rel=1e-9)


def test_non_finite_steps_raise_at_once():
    evs = events(trace(6, guard__skipped=lambda i: 0.0 if i < 3 else 1.0))
    assert [(e.kind, e.step) for e in evs] == [("non_finite", 4 * EVERY)]
    assert kinds(events(trace(2, loss__critic=lambda i: math.nan if i else 1.0))) == ["non_finite"]


def test_an_event_per_onset_and_one_console_warning_per_kind(caplog):
    on = lambda i: (i // 10) % 2 == 0  # noqa: E731  on for 10 samples, off for 10, on again
    samples = trace(30, grad__critic=lambda i: 1e4 if on(i) else 1.0)
    with caplog.at_level(logging.WARNING, logger="audiogan.gan.diagnostics"):
        evs = events(samples)
    values = [s["grad/critic"] for s in samples]
    onsets = [i for i in range(CFG.patience - 1, 30) if np.median(values[i - CFG.patience + 1:i + 1]) > 1e3
              and (i < CFG.patience or not np.median(values[i - CFG.patience:i]) > 1e3)]
    assert [e.step for e in evs] == [EVERY * (i + 1) for i in onsets] and len(onsets) == 2
    assert len(caplog.records) == 1 and caplog.records[0].getMessage() == evs[0].message()


def test_message_names_step_evidence_and_remedy():
    event = Event(1200, "vanishing_gradient", {"grad_G": 3e-7, "loss_D": 0.002}, "use the Wasserstein loss")
    assert event.message() == ("vanishing generator gradient at step 1200 (|grad G| 3e-07, D loss 0.002): "
                               "use the Wasserstein loss")
    assert Event.from_json(json.loads(json.dumps(event.to_json()))) == event


def test_files_and_exact_rebuild_on_resume(tmp_path):
    """A monitor restarted at a step cuts its files back to it and replays them: the events that follow are
    those of an uninterrupted run, and the files end identical."""
    grad = lambda i: 1e4 if 30 <= i < 45 else (1e-8 if i >= 70 else 1.0)  # noqa: E731
    samples = trace(90, grad__critic=grad, grad__generator=lambda i: grad(i) if i >= 70 else 1.0)

    def feed(monitor, part):
        for s in part:
            with open(monitor.run / TRACE_NAME, "a") as fh:  # what after_iteration writes
                fh.write(json.dumps(s) + "\n")
            monitor.observe(s)

    straight, split = tmp_path / "straight", tmp_path / "split"
    straight.mkdir(), split.mkdir()
    feed(Monitor(CFG, AdversarialConfig(), run=straight), samples)
    feed(Monitor(CFG, AdversarialConfig(), run=split), samples[:60])  # ran to step 600 ...
    resumed = Monitor(CFG, AdversarialConfig(), run=split, start_step=EVERY * 40)  # ... resumed from 400
    assert [s["step"] for s in read_trace(split)][-1] == EVERY * 40
    assert resumed.warned == {"exploding_gradient"} and resumed.active == {"exploding_gradient"}
    feed(resumed, samples[40:])
    for name in (TRACE_NAME, EVENTS_NAME):
        assert (straight / name).read_text() == (split / name).read_text()
    assert [e.kind for e in read_events(straight)] == ["exploding_gradient", "vanishing_gradient"]


def test_config_checks_name_the_key():
    with pytest.raises(ValueError, match="collapse_ratio must be > 0"):
        DiagnosticsConfig(collapse_ratio=0)
    with pytest.raises(ValueError, match="oscillation_power must be in"):
        DiagnosticsConfig(oscillation_power=1.5)
    assert "warmup" in DiagnosticsConfig.keys()
