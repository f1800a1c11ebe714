"""Detectors of the failures that the core's remedies exist for, each a small object over recent samples.

A *sample* is a flat dict of what one training iteration logged (``loss/critic``, ``critic/gap``,
``grad/generator``, ...) plus the extra statistics :class:`~audiogan.gan.diagnostics.Monitor` measures
every ``every`` iterations (``weights/critic``, ``diversity/ratio``, ``grad/generator/<group>``). A
detector sees the last samples (oldest first) and returns its *evidence* (the numbers that triggered
it) while its failure is present, else ``None``. Every threshold is a field of :class:`DiagnosticsConfig`,
the same for every run; judging on the median of the last ``patience`` samples makes one noisy
iteration raise nothing.

| kind | condition (median over ``patience`` samples unless said) |
|---|---|
| ``non_finite`` | a step was skipped for a non-finite loss or gradient since the last sample |
| ``vanishing_gradient`` | ``|grad G|`` below ``vanishing_grad``; or, while the critic dominates (below),
  below ``vanishing_ratio`` x its largest value so far: the saturation of a too-strong critic |
| ``exploding_gradient`` | ``|grad G|`` or ``|grad D|`` above ``exploding_grad`` |
| ``divergence`` | critic weight norm above ``weight_growth`` x its first value and still rising, or critic
  scores above ``score_limit`` in magnitude |
| ``dominant_critic`` | critic loss within ``dominance`` of the way from its floor (0; the label-smoothing entropy for
  smoothed BCE) to its chance value (BCE, least-squares, hinge), ``dominance_samples`` samples in a row |
| ``mode_collapse`` | fake-batch diversity below ``collapse_ratio`` x real-batch diversity |
| ``deep_plateau`` | in a network of ``plateau_min_groups`` or more layer groups (generator or critic), the
  first quarter's gradient below ``plateau_ratio`` x the last quarter's; or, for such a critic that has been
  below it in one sample, ``|grad G|`` below ``vanishing_grad``: the generator stops improving |
| ``oscillation`` | one frequency (3 or more cycles per window) holds ``oscillation_power`` of the detrended
  critic loss's variance over ``oscillation_window`` samples, ``patience`` samples in a row |

Mode collapse and oscillation are judged from iteration ``warmup`` on: an untrained generator's narrow
output and its first settling swings are not failures. A critic beats the untrained generator in the first
few dozen iterations of most runs (every BCE run of the stability ablation on digits, the remedies included,
was in the dominant band at the first judgement, iteration 50); it is a failure when the generator does not
catch up, so the dominant critic must hold for ``dominance_samples`` samples in a row (100 iterations at
the defaults). The vanishing-gradient detector's own test of dominance needs no such wait: there the
collapsed gradient is the evidence. A deep plateau is judged from the start: a healthy deep network
starts with gradients of one order of magnitude in all its layers. A plateaued deep critic is flat in its
input: once its last layer has balanced the real and fake terms every layer's gradient is equally tiny, and
its first/last ratio climbs back while the generator, whose gradient crosses every critic layer, still gets
nothing (a 48-layer plain critic, seed 2: ratio 1e-5 at iteration 10, 0.3 at 40, ``|grad G|`` 6e-7). So a
vanished ``|grad G|`` behind a critic whose depth has once cut its gradient is the plateau too (vanishing
gradient fires beside it); a critic that never showed the contrast (the ablation's 8-layer critic clipped at
0.01: flat, ``|grad G|`` 5e-12, lowest ratio 3e-2) is left to the vanishing-gradient detector.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Mapping, Sequence

Sample = Mapping[str, float]
Evidence = dict[str, float]
# The critic loss of a critic that cannot tell real from fake (both scores at the decision point), per
# loss family: BCE 2 ln 2 (whatever the real target), least squares 0.25, hinge 2. Wasserstein has none.
CHANCE_LOSS = {"minimax": 2 * math.log(2), "nonsaturating": 2 * math.log(2), "lsgan": 0.25, "hinge": 2.0}


@dataclass(frozen=True)
class DiagnosticsConfig:
    """Thresholds of the live instability detectors: one set for every application and every run.

    The defaults were set once, on the stability ablation's failure and remedy runs and the healthy
    runs (the 2-D ``best``, a short run of the audio recipe), and are documented in the README.
    """

    __pydantic_config__ = {"extra": "forbid"}

    enabled: bool = True
    every: int = 10  # iterations between two samples; the extra statistics are computed on these only
    patience: int = 5  # samples whose median a condition is judged on (and oscillation windows in a row)
    warmup: int = 1000  # iterations before mode collapse and oscillation are judged
    vanishing_grad: float = 1e-6  # |grad G| below this (the norm over all parameters): no signal at all
    vanishing_ratio: float = 1e-2  # while the critic dominates, |grad G| below this fraction of its largest
    exploding_grad: float = 1e3  # |grad G| or |grad D| above this (the norm over all parameters)
    weight_growth: float = 10.0  # critic weight norm above this multiple of its first value, still rising
    score_limit: float = 1e3  # critic scores (mean real or fake) above this in magnitude
    dominance: float = 0.05  # critic loss below this fraction of the way from its floor to its chance value
    # Samples in a row the critic must dominate (each judged on the median of ``patience``) to be a failure.
    # 10 (100 iterations) on the stability ablation's digits: the dominant-critic failures stayed in the band
    # 13 to 17 samples, their remedy (two generator steps) at most 7 while the generator caught up.
    dominance_samples: int = 10
    collapse_ratio: float = 0.4  # mean pairwise distance of fakes below this fraction of the reals'
    diversity_samples: int = 64  # samples of each batch the diversity is measured on
    # The first quarter of a network's layer groups (generator or critic, each judged alone) against its last
    # quarter. Every non-plateau run measured stayed above 2e-2 (critics: the ablation's clipped 8-layer one
    # lowest, the v2 audio critic 5e-2); the 48-layer plain networks at full depth fall below 1e-6.
    plateau_ratio: float = 1e-3
    plateau_min_groups: int = 8  # fewer layer groups than this: not deep enough for a deep plateau
    oscillation_window: int = 48  # samples of the critic loss the oscillation test looks at
    oscillation_power: float = 0.6  # fraction of the detrended variance in one frequency

    def __post_init__(self) -> None:
        positive = ("every", "patience", "vanishing_grad", "vanishing_ratio", "exploding_grad", "weight_growth",
                    "score_limit", "dominance", "dominance_samples", "collapse_ratio", "plateau_ratio")
        for key in positive:
            if not getattr(self, key) > 0:
                raise ValueError(f"{key} must be > 0, got {getattr(self, key)!r}")
        for key, ok, rule in (("warmup", self.warmup >= 0, ">= 0"),
                              ("diversity_samples", self.diversity_samples >= 2, ">= 2"),
                              ("plateau_min_groups", self.plateau_min_groups >= 2, ">= 2"),
                              ("oscillation_window", self.oscillation_window >= 8, ">= 8"),
                              ("oscillation_power", 0 < self.oscillation_power <= 1, "in (0, 1]")):
            if not ok:
                raise ValueError(f"{key} must be {rule}, got {getattr(self, key)!r}")

    @classmethod
    def keys(cls) -> list[str]:
        """Every field's name (a resumed run may change any of them: they do not change training)."""
        return [f.name for f in fields(cls)]


def median(values: Sequence[float]) -> float:
    s = sorted(values)
    n = len(s)
    return s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])


def recent(history: Sequence[Sample], key: str, n: int) -> list[float] | None:
    """The last ``n`` finite values of ``key``, oldest first; ``None`` until ``n`` samples have it."""
    values = [float(s[key]) for s in history[-n:] if key in s and math.isfinite(float(s[key]))]
    return values if len(values) == n else None


class Detector:
    """One failure. ``__call__(history)`` is called once per sample with the samples so far (oldest first;
    the newest is the current one) and returns the evidence while the failure is present."""

    kind = ""
    title = ""

    def __init__(self, config: DiagnosticsConfig, loss: str, targets: tuple[float, float] = (1.0, 0.0)):
        self.config, self.loss, self.targets = config, loss, targets  # targets: BCE's (real, fake) labels

    def __call__(self, history: Sequence[Sample]) -> Evidence | None:
        raise NotImplementedError


class NonFinite(Detector):
    kind, title = "non_finite", "non-finite steps"

    def __call__(self, history):
        now = history[-1]
        before = history[-2].get("guard/skipped", 0.0) if len(history) > 1 else 0.0
        skipped = now.get("guard/skipped", 0.0) - before
        bad = [k for k, v in now.items() if k.startswith("loss/") and not math.isfinite(v)]
        if skipped > 0 or bad:
            return {"skipped_steps": float(now.get("guard/skipped", 0.0)), "non_finite_terms": float(len(bad))}
        return None


class VanishingGradient(Detector):
    kind, title = "vanishing_gradient", "vanishing generator gradient"

    def __init__(self, *args):
        super().__init__(*args)
        self.peak = 0.0  # the largest |grad G| so far

    def __call__(self, history):
        cfg = self.config
        if "grad/generator" in history[-1] and math.isfinite(history[-1]["grad/generator"]):
            self.peak = max(self.peak, float(history[-1]["grad/generator"]))
        g = recent(history, "grad/generator", cfg.patience)
        if g is None:
            return None
        now = median(g)
        if now < cfg.vanishing_grad:
            return {"grad_G": now}
        loss_d = dominated(history, cfg, self.loss, self.targets)
        if loss_d is not None and now < cfg.vanishing_ratio * self.peak:
            return {"grad_G": now, "peak_grad_G": self.peak, "loss_D": loss_d}
        return None


class ExplodingGradient(Detector):
    kind, title = "exploding_gradient", "exploding gradients"

    def __call__(self, history):
        for net, label in (("critic", "grad_D"), ("generator", "grad_G")):
            g = recent(history, f"grad/{net}", self.config.patience)
            if g is not None and median(g) > self.config.exploding_grad:
                return {label: median(g)}
        return None


class Divergence(Detector):
    kind, title = "divergence", "critic divergence"

    def __init__(self, *args):
        super().__init__(*args)
        self.first: float | None = None

    def __call__(self, history):
        p = self.config.patience
        w = recent(history, "weights/critic", p)
        if self.first is None and "weights/critic" in history[-1]:
            self.first = float(history[-1]["weights/critic"])
        if w is not None and self.first:
            growth = median(w) / self.first
            if growth > self.config.weight_growth and w[-1] > w[0]:
                return {"weight_norm_D": w[-1], "weight_growth": growth}
        real, fake = recent(history, "critic/real", p), recent(history, "critic/fake", p)
        if real is not None and fake is not None:
            score = max(abs(median(real)), abs(median(fake)))
            if score > self.config.score_limit:
                return {"score_D": score}
        return None


def loss_floor(loss: str, targets: tuple[float, float] = (1.0, 0.0)) -> float:
    """The least critic loss there is: 0, except for BCE with label smoothing (real target ``t`` < 1, fake
    target ``t`` > 0), each of whose terms cannot go below its label's entropy ``-(t ln t + (1-t) ln(1-t))``
    (0.325 at 0.9 and at 0.1)."""
    if loss not in ("minimax", "nonsaturating"):
        return 0.0
    return sum(-(t * math.log(t) + (1 - t) * math.log(1 - t)) for t in targets if 0 < t < 1)


def dominated(history: Sequence[Sample], config: DiagnosticsConfig, loss: str,
              targets: tuple[float, float] = (1.0, 0.0)) -> float | None:
    """The critic loss's median when it lies within ``dominance`` of the way from its floor to its chance
    value (the critic tells real from fake almost surely), else ``None``; always ``None`` for losses
    without a chance value (Wasserstein). Measured from the floor, so label smoothing, which lifts the
    floor to 0.325, does not hide a critic that has won."""
    chance = CHANCE_LOSS.get(loss)
    d = recent(history, "loss/critic", config.patience)
    if chance is None or d is None:
        return None
    floor = loss_floor(loss, targets)
    if median(d) - floor >= config.dominance * (chance - floor):
        return None
    return median(d)


class DominantCritic(Detector):
    kind, title = "dominant_critic", "dominant critic"

    def __init__(self, *args):
        super().__init__(*args)
        self.run = 0  # samples in a row the critic has dominated

    def __call__(self, history):
        loss_d = dominated(history, self.config, self.loss, self.targets)
        self.run = 0 if loss_d is None else self.run + 1
        if self.run < self.config.dominance_samples:
            return None
        return {"loss_D": loss_d, "chance_loss_D": CHANCE_LOSS[self.loss], "dominant_samples": float(self.run)}


class ModeCollapse(Detector):
    kind, title = "mode_collapse", "mode collapse"

    def __call__(self, history):
        r = recent(history, "diversity/ratio", self.config.patience)
        if r is None or history[-1]["step"] < self.config.warmup:
            return None
        if median(r) < self.config.collapse_ratio:
            last = history[-1]
            return {"diversity_ratio": median(r), "diversity_fake": last["diversity/fake"],
                    "diversity_real": last["diversity/real"]}
        return None


def plateau_ratio(sample: Sample, min_groups: int, net: str = "generator") -> float | None:
    """Geometric mean of the gradient norms of ``net``'s (``generator`` or ``critic``) first quarter of layer
    groups over that of its last quarter (groups in the order the sample lists them: the module's parameter
    order, input first); ``None`` for fewer than ``min_groups`` groups."""
    norms = [v for k, v in sample.items() if k.startswith(f"grad/{net}/")]
    if len(norms) < min_groups:
        return None
    q = max(1, len(norms) // 4)
    logmean = lambda xs: sum(math.log(max(x, 1e-30)) for x in xs) / len(xs)  # noqa: E731
    return math.exp(logmean(norms[:q]) - logmean(norms[-q:]))


class DeepPlateau(Detector):
    """Either network's plateau (the module docstring says why a flat critic is also judged by ``|grad G|``)."""

    kind, title = "deep_plateau", "deep plateau"

    def __init__(self, *args):
        super().__init__(*args)
        self.lowest_critic_ratio = math.inf  # the critic's first/last ratio, lowest single sample so far

    def __call__(self, history):
        cfg = self.config
        r = plateau_ratio(history[-1], cfg.plateau_min_groups, "critic")
        if r is not None:
            self.lowest_critic_ratio = min(self.lowest_critic_ratio, r)
        if len(history) < cfg.patience:
            return None
        for net, label in (("generator", "G"), ("critic", "D")):
            ratios = [plateau_ratio(s, cfg.plateau_min_groups, net) for s in history[-cfg.patience:]]
            if any(r is None for r in ratios):
                continue
            groups = float(sum(1 for k in history[-1] if k.startswith(f"grad/{net}/")))
            now = median(ratios)  # type: ignore[arg-type]
            if now < cfg.plateau_ratio:
                return {f"early_late_ratio_{label}": now, f"layer_groups_{label}": groups}
            g = recent(history, "grad/generator", cfg.patience)
            if (net == "critic" and self.lowest_critic_ratio < cfg.plateau_ratio and g is not None
                    and median(g) < cfg.vanishing_grad):
                return {"grad_G": median(g), "lowest_early_late_ratio_D": self.lowest_critic_ratio,
                        "layer_groups_D": groups}
        return None


def peak_power(series: Sequence[float], min_cycles: int = 3) -> float:
    """The largest share of the linearly detrended ``series``'s variance in one frequency of at least
    ``min_cycles`` cycles per window (a plain DFT: the windows are short)."""
    n = len(series)
    t_mean, x_mean = (n - 1) / 2, sum(series) / n
    var_t = sum((t - t_mean) ** 2 for t in range(n))
    slope = sum((t - t_mean) * (x - x_mean) for t, x in enumerate(series)) / var_t
    r = [x - x_mean - slope * (t - t_mean) for t, x in enumerate(series)]
    power = []
    for k in range(1, n // 2 + 1):
        re = sum(v * math.cos(2 * math.pi * k * t / n) for t, v in enumerate(r))
        im = sum(v * math.sin(2 * math.pi * k * t / n) for t, v in enumerate(r))
        power.append(re * re + im * im)
    total = sum(power)
    return max(power[min_cycles - 1:]) / total if total > 0 else 0.0


class Oscillation(Detector):
    kind, title = "oscillation", "oscillation"

    def __init__(self, *args):
        super().__init__(*args)
        self.run = 0  # windows in a row that oscillate

    def __call__(self, history):
        cfg = self.config
        x = recent(history, "loss/critic", cfg.oscillation_window)
        if x is None or history[-1]["step"] < cfg.warmup:
            self.run = 0
            return None
        power = peak_power(x)
        self.run = self.run + 1 if power >= cfg.oscillation_power else 0
        if self.run >= cfg.patience:
            ordered = sorted(x)
            return {"peak_power": power, "swing_loss_D": ordered[-len(x) // 10 - 1] - ordered[len(x) // 10]}
        return None


DETECTORS: tuple[type[Detector], ...] = (NonFinite, VanishingGradient, ExplodingGradient, Divergence, DominantCritic,
                                         ModeCollapse, DeepPlateau, Oscillation)
TITLES = {d.kind: d.title for d in DETECTORS}


def history_length(config: DiagnosticsConfig) -> int:
    """Samples the detectors need to look back over."""
    return max(config.patience, config.oscillation_window) + 1


def make_detectors(config: DiagnosticsConfig, loss: str,
                   targets: tuple[float, float] = (1.0, 0.0)) -> list[Detector]:
    return [d(config, loss, targets) for d in DETECTORS]


def remedy(kind: str, adversarial: object) -> str:
    """What to try against ``kind``, given the run's adversarial config (``loss``, ``clip_value``, weights, ...)."""
    loss = getattr(adversarial, "loss", "")
    clipped = getattr(adversarial, "clip_value", None) is not None
    weights = getattr(adversarial, "weights", None)
    as_gp = "replace weight clipping by the gradient penalty (adversarial.clip_value: null, weights: {loss/gp: 10})"
    if kind == "vanishing_gradient":
        if clipped:
            return as_gp
        if loss == "minimax":
            return ("use the Wasserstein loss (adversarial.loss: wasserstein, weights: {loss/gp: 10}) or the "
                    "non-saturating one (adversarial.loss: nonsaturating)")
        return "weaken the critic: fewer critic steps (adversarial.n_critic) or a lower critic learning rate"
    if kind == "exploding_gradient":
        if clipped:
            return as_gp
        return ("bound the critic's slope (weights: {loss/gp: 10} or spectral norm) and clip gradients "
                "(adversarial.max_grad_norm: 10)")
    if kind == "divergence":
        has_l2 = bool(getattr(weights, "l2", 0.0))
        return ("add the drift penalty (weights: {loss/drift: 1.0e-3}) or a stronger L2" if has_l2 else
                "normalise the critic (spectral norm) and bound its weights with L2 (weights: {loss/l2: 1.0e-3})")
    if kind == "dominant_critic":
        # One-sided label smoothing is the other remedy the literature names; in the stability ablation it
        # did not stop the critic winning (it bounds the real logit, not the fake one), so it is not offered.
        return ("two generator steps per critic step (adversarial.n_gen: 2) or a slower critic (a lower "
                "critic_opt.lr)")
    if kind == "mode_collapse":
        return ("minibatch discrimination in the critic, unrolling (adversarial.unrolled_steps: 5) or the "
                "diversity loss (weights: {loss/div: 1.0})")
    if kind == "deep_plateau":
        # FARGAN batching, the other remedy named for a deep critic's plateau, did not lift it in the stability
        # ablation (it changes the real batch, not the gradient's path through the layers): not offered.
        return "grow the plateaued network from a few layers (generator_growth or critic_growth)"
    if kind == "oscillation":
        return ("lower the learning rates, average the generator (adversarial.ema_decay: 0.999) or add the R1 "
                "penalty (weights: {loss/r1: 0.1})")
    if kind == "non_finite":
        return ("lower the learning rates or clip gradients (adversarial.max_grad_norm: 10); on CUDA try "
                "bf16_autocast: false")
    raise KeyError(kind)
