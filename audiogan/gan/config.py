"""What the core's training step is configured by: the adversarial setup and the typed loss weights.

Plain dataclasses (the core imports only torch and the standard library); applications validate them
from YAML with pydantic, which honours ``__pydantic_config__``: unknown keys are refused, and the loss
weights are read and written under their logged names (``loss/adv``), through an alias generator.
An application with terms of its own subclasses :class:`LossWeights` (one field per term) and
:class:`AdversarialConfig` (its own defaults), so that a partial block in a config file keeps every
default it does not name.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Mapping

from .losses import adversarial_loss

PREFIX = "loss/"


def _logged_name(field_name: str) -> str:
    return PREFIX + field_name


@dataclass
class LossWeights:
    """The weight of every loss term, by field; logged and configured as ``loss/<field>``.

    The total of a step is ``sum(weight * term)``; a term whose weight is 0 is not computed.
    Critic terms: ``critic`` (adversarial), ``gp``, ``r1``, ``l2``, ``drift``; generator terms: ``adv``,
    ``fm``, ``div``, ``mmd``.
    """

    __pydantic_config__ = {"extra": "forbid", "alias_generator": _logged_name, "populate_by_name": True}

    critic: float = 1.0  # the critic's adversarial loss
    gp: float = 0.0  # gradient penalty (WGAN-GP: 10)
    r1: float = 0.0  # R1 zero-centred penalty on real samples
    l2: float = 0.0  # L2 on the critic's weights in use
    drift: float = 0.0  # drift penalty on the real scores (Karras et al. 2018: 1e-3)
    adv: float = 1.0  # the generator's adversarial loss
    fm: float = 0.0  # feature matching on critic features
    div: float = 0.0  # mode-seeking diversity loss
    mmd: float = 0.0  # kernel MMD between the real and the fake batch

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, (int, float)) or value != value or value < 0:
                raise ValueError(f"weight {_logged_name(f.name)} must be a number >= 0, got {value!r}")

    @classmethod
    def from_mapping(cls, weights: Mapping[str, float]) -> "LossWeights":
        """From ``{"loss/adv": 1.0, ...}``; a name that is not a field is refused, naming it."""
        known = {_logged_name(f.name): f.name for f in fields(cls)}
        unknown = [k for k in weights if k not in known]
        if unknown:
            raise ValueError(f"unknown loss weight {unknown[0]!r}; known: {', '.join(known)}")
        return cls(**{known[k]: float(v) for k, v in weights.items()})

    @property
    def uses_critic(self) -> bool:
        """Whether any generator term reads the critic (else its steps are skipped: a reconstruction-only twin)."""
        return bool(self.adv or self.fm)

    def as_dict(self) -> dict[str, float]:
        """``{logged name: weight}`` for every term."""
        return {_logged_name(f.name): float(getattr(self, f.name)) for f in fields(self)}


@dataclass
class AdversarialConfig:
    """How the two networks are trained against each other (any modality)."""

    __pydantic_config__ = {"extra": "forbid"}

    loss: str = "wasserstein"  # minimax | nonsaturating | wasserstein | hinge | lsgan
    real_target: float = 1.0  # BCE families: real label; 0.9 = one-sided label smoothing
    fake_target: float = 0.0  # BCE families: fake label; 0.1 beside real 0.9 = two-sided (soft) labels
    n_critic: int = 1  # critic steps per iteration
    n_gen: int = 1  # generator steps per iteration
    # Weights keyed by logged names (``loss/gp: 10``); keys not given keep their defaults; 0 = off.
    weights: LossWeights = field(default_factory=LossWeights)
    clip_value: float | None = None  # WGAN weight clipping of the critic after each step (0.01)
    gp_one_sided: bool = False
    # Lazy regularisation (StyleGAN2): the gradient penalties (gp, r1) on every gp_every-th iteration only,
    # weighted gp_every times, so their average pull is the same at a fraction of the double-backward cost.
    gp_every: int = 1
    # Feature matching per aligned sample (transformation tasks). Target and output then pass the critic in
    # one call, so per-call randomness (an audio critic's crop) is shared; a critic that mixes its batch
    # (batch norm, minibatch features) sees both halves together.
    fm_paired: bool = False
    # Kernel widths (data units) of the loss/mmd term: MMD between the real and the fake batch.
    mmd_bandwidths: tuple[float, ...] = (0.05, 0.1, 0.2, 0.5)
    # Instance noise (Sønderby et al. 2017; Arjovsky & Bottou 2017): Gaussian noise of this std (data units)
    # on every critic input, real and fake, so the two distributions overlap and the critic's gradient
    # reaches modes the generator has not found yet; annealed linearly to 0 over instance_noise_steps
    # iterations (0 = kept constant).
    instance_noise: float = 0.0
    instance_noise_steps: int = 0
    # EMA of generator weights (None = off), normalised by 1 - decay^n as Adam does its moments, so a short
    # run's average does not keep decay^n of the untrained starting weights.
    ema_decay: float | None = None
    fargan_count: int = 0  # top-scoring fakes that join the next real batch (FARGAN); 0 = off
    # Top-k generator updates (Sinha et al. 2020): the adversarial loss is averaged over only this fraction
    # of the fakes, those the critic scores highest, so samples it rates worst (between modes, say) stop
    # pulling the generator; the fraction falls linearly from 1 over top_k_steps iterations (0 = at once).
    top_k: float = 1.0
    top_k_steps: int = 0
    unrolled_steps: int = 0  # Unrolled GAN k; 0 = off
    unrolled_lr: float = 1e-3
    unrolled_second_order: bool = True
    max_grad_norm: float | None = None  # clip gradient norm (both networks); None = off
    # One generator forward per iteration instead of two (as in PyTorch's DCGAN example): the critic step
    # trains on the detached fakes, then the generator step scores the same fakes, graph kept, with the
    # updated critic. Same update rule on one batch instead of two; needs n_critic = n_gen = 1.
    reuse_fakes: bool = False
    bf16_autocast: bool = True  # only takes effect on CUDA

    def __post_init__(self) -> None:
        adversarial_loss(self.loss)  # validates the name
        if isinstance(self.weights, Mapping):  # built in Python from a dict: the class's own weight type
            weights_type = next(f for f in fields(self) if f.name == "weights").default_factory
            self.weights = weights_type.from_mapping(self.weights)
        if self.n_critic < 1 or self.n_gen < 1:
            raise ValueError("n_critic and n_gen must be >= 1")
        if self.gp_every < 1:
            raise ValueError("gp_every must be >= 1")
        if self.instance_noise < 0 or self.instance_noise_steps < 0:
            raise ValueError("instance_noise and instance_noise_steps must be >= 0")
        if not 0 < self.top_k <= 1 or self.top_k_steps < 0:
            raise ValueError("top_k must be in (0, 1] and top_k_steps >= 0")
        if self.reuse_fakes and (self.n_critic, self.n_gen) != (1, 1):
            raise ValueError("reuse_fakes needs n_critic = n_gen = 1")
        optional = lambda v, ok: v is None or ok(v)  # noqa: E731
        for key, ok, rule in (
                ("real_target", 0 < self.real_target <= 1, "in (0, 1]"),
                ("fake_target", 0 <= self.fake_target < self.real_target, "in [0, real_target)"),
                ("clip_value", optional(self.clip_value, lambda v: v > 0), "> 0 (or null)"),
                ("mmd_bandwidths", len(self.mmd_bandwidths) > 0 and all(b > 0 for b in self.mmd_bandwidths),
                 "a non-empty list of widths > 0"),
                ("ema_decay", optional(self.ema_decay, lambda v: 0 <= v < 1), "in [0, 1) (or null)"),
                ("fargan_count", self.fargan_count >= 0, ">= 0"),
                ("unrolled_steps", self.unrolled_steps >= 0, ">= 0"), ("unrolled_lr", self.unrolled_lr > 0, "> 0"),
                ("max_grad_norm", optional(self.max_grad_norm, lambda v: v > 0), "> 0 (or null)")):
            if not ok:
                raise ValueError(f"{key} must be {rule}, got {getattr(self, key)!r}")
