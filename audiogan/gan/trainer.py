"""The adversarial training step that every application (audio, image, 2-D) uses.

One *iteration* = ``n_critic`` critic steps, then ``n_gen`` generator steps, each on a fresh batch
``(gen_input, real)`` from the application's iterator (with ``reuse_fakes``, one batch and one generator
forward serve both steps):

- ``gen_input``: what the generator reads (noise for the 2-D and image GANs, degraded audio for the
  enhancer);
- ``real``: a batch of real samples for the critic (for paired audio, the clean targets).

Loss terms are a dict keyed by their logged names; the total is ``sum(weights[name] * term)`` and a
term whose weight is 0 is not computed. Critic terms: ``loss/critic`` (adversarial), ``loss/gp``, ``loss/r1``,
``loss/l2``, ``loss/drift``. Generator terms: ``loss/adv``, ``loss/fm``, ``loss/div``, ``loss/mmd``, plus
whatever the application's ``generator_terms`` callback returns (the enhancer's ``loss/recon``; each
needs a field in the application's :class:`~audiogan.gan.config.LossWeights` subclass).

A step whose loss or gradient is not finite is skipped (no optimizer, scheduler or EMA update) and
counted in ``guard/skipped``. On CUDA the forward passes run under bf16 autocast. Nothing here knows
the data's modality or the models' architecture.
"""

from __future__ import annotations

import inspect
from contextlib import nullcontext
from typing import Any, Callable, Iterator, Mapping

import torch
from torch import nn

from .config import AdversarialConfig
from .constraints import clip_weights_, drift_penalty, gradient_penalty, l2_penalty, r1_penalty
from .ema import EMA
from .fargan import FakeAsRealBuffer
from .grads import BoundKwargs, frozen, grad_norm
from .growth import GrowthSchedule
from .losses import adversarial_loss, diversity_loss, feature_matching_loss, mmd_loss
from .unrolled import unrolled_generator_loss

Tensor = torch.Tensor
Batch = tuple[Tensor, Tensor]
GeneratorTerms = Callable[[Tensor, Tensor, Tensor], Mapping[str, Tensor]]

CRITIC_TERMS = ("loss/critic", "loss/gp", "loss/r1", "loss/l2", "loss/drift")
LAZY_TERMS = ("loss/gp", "loss/r1")  # computed every gp_every-th iteration, weighted gp_every times


class AdversarialTrainer:
    """Runs critic and generator steps for any pair of modules.

    Args:
        generator: ``generator(gen_input, **growth_kwargs) -> fake`` with ``fake`` shaped like ``real``.
        critic: ``critic(x, **growth_kwargs) -> score`` or ``(score, features)``.
        generator_opt, critic_opt: optimizers over the two modules' parameters.
        config: :class:`AdversarialConfig`.
        generator_terms: optional ``f(fake, gen_input, real) -> {name: loss}`` of extra generator terms
            (each name needs a weight in ``config.weights``).
        generator_growth, critic_growth: optional depth schedules; the network then receives
            ``depth``, ``alpha`` and ``fade_blocks`` keyword arguments at every call.
        schedulers: optional ``{"generator": sched, "critic": sched}``, stepped with their optimizer.
        device: where batches go; models are expected there already.
    """

    def __init__(
        self,
        generator: nn.Module,
        critic: nn.Module,
        generator_opt: torch.optim.Optimizer,
        critic_opt: torch.optim.Optimizer,
        config: AdversarialConfig,
        generator_terms: GeneratorTerms | None = None,
        generator_growth: GrowthSchedule | None = None,
        critic_growth: GrowthSchedule | None = None,
        schedulers: Mapping[str, Any] | None = None,
        device: torch.device | str = "cpu",
    ):
        self.generator, self.critic = generator, critic
        self.generator_opt, self.critic_opt = generator_opt, critic_opt
        self.config = config
        self.generator_terms = generator_terms
        self.generator_growth, self.critic_growth = generator_growth, critic_growth
        self.schedulers = dict(schedulers or {})
        self.device = torch.device(device)
        self.losses = adversarial_loss(config.loss)
        self.ema = EMA(generator, config.ema_decay, bias_correction=True) if config.ema_decay is not None else None
        self.fargan = FakeAsRealBuffer(config.fargan_count)
        self.step = 0  # completed iterations
        self.skipped = 0  # steps dropped by the non-finite guard
        self.batches_drawn = 0  # batches taken from the data so far, by all ranks: the data position to resume at
        self.world_size = 1  # training processes (distribute() wraps the networks for torchrun)
        self.last_batch: Batch | None = None  # (fakes, reals) of the last generator step, detached: diagnostics
        self.weights = config.weights.as_dict()
        # With no adversarial or feature-matching weight nothing reads the critic: its steps are skipped
        # (a reconstruction-only twin of a GAN, trained by the same loop).
        self.uses_critic = config.weights.uses_critic

    # -- distributed data parallel ------------------------------------------------------------
    def distribute(self, device_ids: list[int] | None = None) -> None:
        """Wrap the generator and the critic in :class:`~torch.nn.parallel.DistributedDataParallel` (after
        ``init_process_group``, before training; every rank calls it). How growth, spectral norm, the gradient
        penalty, L2, the non-finite guard, EMA and FARGAN stay correct: :mod:`audiogan.distributed`."""
        from torch.nn.parallel import DistributedDataParallel as DDP

        self.world_size = torch.distributed.get_world_size()
        kw: dict[str, Any] = dict(device_ids=device_ids, find_unused_parameters=True)
        # Newer torch renames broadcast_buffers to forward_sync_buffers (which still syncs them once, at
        # wrapping: harmless, they are equal then).
        kw["forward_sync_buffers" if "forward_sync_buffers" in inspect.signature(DDP).parameters
           else "broadcast_buffers"] = False
        self.generator = DDP(self.generator, **kw)
        self.critic = DDP(self.critic, **kw)

    @staticmethod
    def unwrap(module: nn.Module) -> nn.Module:
        """The network inside a DDP wrapper (``module`` itself when it is not wrapped)."""
        from torch.nn.parallel import DistributedDataParallel as DDP

        return module.module if isinstance(module, DDP) else module

    def _all_finite(self, total: Tensor) -> bool:
        finite = torch.isfinite(total.detach()).to(torch.int32).reshape(1)
        if self.world_size > 1:
            torch.distributed.all_reduce(finite, op=torch.distributed.ReduceOp.MIN)
        return bool(finite.item())

    # -- helpers ------------------------------------------------------------------------------
    def _autocast(self):
        if self.device.type == "cuda" and self.config.bf16_autocast:
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return nullcontext()

    @staticmethod
    def _growth_kwargs(schedule: GrowthSchedule | None, step: int) -> dict[str, Any]:
        if schedule is None:
            return {}
        depth, alpha = schedule(step)
        return {"depth": depth, "alpha": alpha, "fade_blocks": schedule.fade_blocks(step)}

    def generator_kwargs(self) -> dict[str, Any]:
        """Growth keyword arguments (depth, alpha, fade_blocks) for the generator at the current step."""
        return self._growth_kwargs(self.generator_growth, self.step)

    def generate(self, gen_input: Tensor) -> Tensor:
        return self.generator(gen_input, **self.generator_kwargs())

    def critique(self, x: Tensor, critic: nn.Module | None = None) -> tuple[Tensor, list[Tensor]]:
        out = (self.critic if critic is None else critic)(x, **self._growth_kwargs(self.critic_growth, self.step))
        if isinstance(out, (tuple, list)):
            return out[0], list(out[1])
        return out, []

    def noise_std(self) -> float:
        """The instance-noise std at the current step (linear anneal to 0; constant when steps = 0)."""
        sigma, steps = self.config.instance_noise, self.config.instance_noise_steps
        return sigma * max(0.0, 1.0 - self.step / steps) if steps else sigma

    def top_k_fraction(self) -> float:
        """Fraction of fakes in the generator's adversarial loss at the current step."""
        cfg = self.config
        if cfg.top_k_steps == 0:
            return cfg.top_k
        return 1.0 - (1.0 - cfg.top_k) * min(self.step / cfg.top_k_steps, 1.0)

    def _top_k(self, scores: Tensor) -> Tensor:
        fraction = self.top_k_fraction()
        if fraction >= 1.0:
            return scores
        return scores.topk(max(1, round(fraction * scores.shape[0])), dim=0).values

    def _noisy(self, x: Tensor) -> Tensor:
        sigma = self.noise_std()
        return x + sigma * torch.randn_like(x) if sigma > 0 else x

    def _critic_loss(self, real: Tensor, fake: Tensor) -> Tensor:
        if self.losses.smoothing:
            return self.losses.critic(real, fake, real_target=self.config.real_target,
                                      fake_target=self.config.fake_target)
        return self.losses.critic(real, fake)

    def _weighted(self, terms: Mapping[str, Tensor], scale: Mapping[str, float] | None = None) -> Tensor:
        """``sum(weights[name] * scale[name] * term)``; ``scale`` (default 1) carries lazy regularisation."""
        unknown = [k for k in terms if k not in self.weights]
        if unknown:
            raise KeyError(f"loss terms without a weight: {unknown}; add them to config.weights")
        scale = scale or {}
        return sum(self.weights[k] * scale.get(k, 1) * v.float() for k, v in terms.items())

    def _apply(self, total: Tensor, opt: torch.optim.Optimizer, params: list[nn.Parameter],
               name: str, penalty: Callable[[list[nn.Parameter]], Tensor] | None = None) -> tuple[bool, float]:
        """Backward, guard, clip and step. Returns (applied, grad norm).

        ``penalty(used)`` is an extra weighted term over the parameters that received a gradient from
        ``total`` (the ones in use at the current growth depth), back-propagated before the step.
        """
        opt.zero_grad(set_to_none=True)
        if not self._all_finite(total):
            self.skipped += 1
            return False, float("nan")
        total.backward()
        if penalty is not None:
            used = [p for p in params if p.grad is not None]
            extra = penalty(used)
            if extra.requires_grad:
                # Added to .grad by hand, not by a second backward: under DDP that would fire the
                # gradient hooks twice. (The same sums as extra.backward().)
                for p, g in zip(used, torch.autograd.grad(extra, used, allow_unused=True)):
                    if g is not None:
                        p.grad.add_(g)
        norm = grad_norm(params)
        if not torch.isfinite(norm):
            opt.zero_grad(set_to_none=True)
            self.skipped += 1
            return False, float(norm)
        if self.config.max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(params, self.config.max_grad_norm)
        opt.step()
        if name in self.schedulers and self.schedulers[name] is not None:
            self.schedulers[name].step()
        return True, float(norm)

    def _draw(self, batches: Iterator[Batch]) -> Batch:
        self.batches_drawn += self.world_size
        return next(batches)

    def _to(self, batch: Batch) -> Batch:
        return tuple(t.to(self.device, non_blocking=True) for t in batch)  # type: ignore[return-value]

    # -- steps --------------------------------------------------------------------------------
    def critic_step(self, gen_input: Tensor, real: Tensor, fake: Tensor | None = None) -> dict[str, float]:
        """One critic update; ``fake`` (optional) is the generator's output for ``gen_input``, already made."""
        gen_input, real = self._to((gen_input, real))
        w = self.weights
        if fake is None:
            with torch.no_grad(), self._autocast():
                fake = self.generate(gen_input)
        fake = fake.detach()
        real_batch = self.fargan.mix(real)
        clean_fake = fake
        real_batch, fake = self._noisy(real_batch), self._noisy(fake)
        with self._autocast():
            real_score, _ = self.critique(real_batch)
            fake_score, _ = self.critique(fake)
            real_score, fake_score = real_score.float(), fake_score.float()
            terms = {"loss/critic": self._critic_loss(real_score, fake_score)}
            if self.step % self.config.gp_every == 0 and (w["loss/gp"] or w["loss/r1"]):
                kw = self._growth_kwargs(self.critic_growth, self.step)
                critic = lambda x: self.critic(x, **kw)  # noqa: E731
                real = self._noisy(real)  # the penalties' real points, noised only when they are computed
                if w["loss/gp"]:
                    terms["loss/gp"] = gradient_penalty(critic, real, fake, one_sided=self.config.gp_one_sided)
                if w["loss/r1"]:
                    terms["loss/r1"] = r1_penalty(critic, real)
            if w["loss/drift"]:
                terms["loss/drift"] = drift_penalty(real_score)
        total = self._weighted(terms, scale={name: self.config.gp_every for name in LAZY_TERMS})
        params = [p for p in self.critic.parameters() if p.requires_grad]
        l2_value: list[Tensor] = []

        def l2_term(used: list[nn.Parameter]) -> Tensor:
            # L2 on the parameters in use only (see constraints.l2_penalty); logged as loss/l2.
            l2_value.append(l2_penalty(used))
            return w["loss/l2"] * l2_value[0]

        applied, norm = self._apply(total, self.critic_opt, params, "critic",
                                    penalty=l2_term if w["loss/l2"] else None)
        if l2_value:
            terms["loss/l2"] = l2_value[0]
        if applied and self.config.clip_value is not None:
            clip_weights_(self.critic, self.config.clip_value)
        if self.fargan.count:
            self.fargan.select(clean_fake, fake_score)
        stats = {k: float(v.detach()) for k, v in terms.items()}
        real_mean, fake_mean = float(real_score.detach().mean()), float(fake_score.detach().mean())
        stats.update({"critic/real": real_mean, "critic/fake": fake_mean, "critic/gap": real_mean - fake_mean,
                      "grad/critic": norm, "fargan/count": float(self.fargan.n_held),
                      "guard/skipped": float(self.skipped)})
        if self.config.instance_noise:
            stats["noise/instance"] = self.noise_std()
        return stats

    def generator_step(self, gen_input: Tensor, real: Tensor, fake: Tensor | None = None) -> dict[str, float]:
        """One generator update; ``fake`` (optional) is ``generate(gen_input)`` with its graph, already made."""
        gen_input, real = self._to((gen_input, real))
        w, cfg = self.weights, self.config
        unrolled = cfg.unrolled_steps > 0
        with self._autocast(), (nullcontext() if unrolled else frozen(self.critic)):
            clean_fake = fake = self.generate(gen_input) if fake is None else fake
            # The critic is trained on noisy inputs, so the generator is scored on noisy fakes (the noise is
            # additive: the gradient still reaches the generator). Extra terms see the clean ones.
            fake = self._noisy(fake)
            real_seen = self._noisy(real) if unrolled or w["loss/fm"] else real  # only these read real
            real_feats: list[Tensor] | None = None
            if unrolled:
                kw = self._growth_kwargs(self.critic_growth, self.step)
                raw = self.unwrap(self.critic)
                critic = raw if not kw else BoundKwargs(raw, kw)
                terms = {"loss/adv": unrolled_generator_loss(
                    critic, real_seen, fake, self._critic_loss, self.losses.generator,
                    steps=cfg.unrolled_steps, lr=cfg.unrolled_lr, second_order=cfg.unrolled_second_order)}
                fake_feats: list[Tensor] = []
                if w["loss/fm"]:
                    _, fake_feats = self.critique(fake, self.unwrap(self.critic))
            elif self.uses_critic:
                if w["loss/fm"] and cfg.fm_paired:
                    # Paired features must be of the same audio: one call scores target and output together,
                    # so whatever the critic draws per call (a crop window) is drawn once for both.
                    n = fake.shape[0]
                    both_score, both_feats = self.critique(torch.cat([real_seen, fake]), self.unwrap(self.critic))
                    fake_score, fake_feats = both_score[n:], [f[n:] for f in both_feats]
                    real_feats = [f[:n] for f in both_feats]
                else:
                    fake_score, fake_feats = self.critique(fake, self.unwrap(self.critic))
                terms = {"loss/adv": self.losses.generator(self._top_k(fake_score.float()))} if w["loss/adv"] else {}
            else:
                terms, fake_feats = {}, []
            if w["loss/fm"]:
                if real_feats is None:
                    with torch.no_grad():
                        _, real_feats = self.critique(real_seen, self.unwrap(self.critic))
                terms["loss/fm"] = feature_matching_loss(real_feats, fake_feats, paired=cfg.fm_paired)
            if w["loss/div"]:
                terms["loss/div"] = diversity_loss(clean_fake.float(), gen_input.float())
            if w["loss/mmd"]:
                terms["loss/mmd"] = mmd_loss(real, clean_fake, cfg.mmd_bandwidths)
            if self.generator_terms is not None:
                terms.update(self.generator_terms(clean_fake, gen_input, real))
        total = self._weighted(terms)
        params = [p for p in self.generator.parameters() if p.requires_grad]
        applied, norm = self._apply(total, self.generator_opt, params, "generator")
        if unrolled:
            self.critic.zero_grad(set_to_none=True)  # the unroll left second-order grads there
        if applied and self.ema is not None:
            self.ema.update(self.unwrap(self.generator))
        self.last_batch = (clean_fake.detach(), real)
        stats = {k: float(v.detach()) for k, v in terms.items()}
        stats.update({"grad/generator": norm, "guard/skipped": float(self.skipped)})
        return stats

    def train_iteration(self, batches: Iterator[Batch]) -> dict[str, float]:
        """``n_critic`` critic steps then ``n_gen`` generator steps; returns the last stats of each."""
        stats: dict[str, float] = {}
        if self.config.reuse_fakes and self.uses_critic:
            gen_input, real = self._to(self._draw(batches))
            with self._autocast():
                fake = self.generate(gen_input)
            stats.update(self.critic_step(gen_input, real, fake))
            stats.update(self.generator_step(gen_input, real, fake))
        else:
            for _ in range(self.config.n_critic if self.uses_critic else 0):
                stats.update(self.critic_step(*self._draw(batches)))
            for _ in range(self.config.n_gen):
                stats.update(self.generator_step(*self._draw(batches)))
        for name, schedule in (("generator", self.generator_growth), ("critic", self.critic_growth)):
            if schedule is not None:
                depth, alpha = schedule(self.step)
                stats[f"growth/{name}_depth"], stats[f"growth/{name}_alpha"] = float(depth), alpha
        self.step += 1
        return stats

    # -- state --------------------------------------------------------------------------------
    def model_state(self) -> dict[str, dict[str, Tensor]]:
        """Weights only, by model name (for safetensors)."""
        out = {"generator": self.unwrap(self.generator).state_dict(), "critic": self.unwrap(self.critic).state_dict()}
        if self.ema is not None:
            out["generator_ema"] = self.ema.state_dict()
        return out

    def training_state(self) -> dict[str, Any]:
        """Everything else needed for exact resume; loadable with ``torch.load(weights_only=True)``."""
        return {
            "step": self.step,
            "skipped": self.skipped,
            "batches_drawn": self.batches_drawn,
            "generator_opt": self.generator_opt.state_dict(),
            "critic_opt": self.critic_opt.state_dict(),
            "schedulers": {k: s.state_dict() for k, s in self.schedulers.items() if s is not None},
            "fargan": self.fargan.state_dict(),
            "ema_updates": self.ema.updates if self.ema is not None else 0,
        }

    def load_state(self, models: Mapping[str, Mapping[str, Tensor]], training: Mapping[str, Any]) -> None:
        self.unwrap(self.generator).load_state_dict(models["generator"], strict=True)
        self.unwrap(self.critic).load_state_dict(models["critic"], strict=True)
        if self.ema is not None:
            self.ema.load_state_dict(models["generator_ema"])
            self.ema.updates = int(training["ema_updates"])
        self.generator_opt.load_state_dict(training["generator_opt"])
        self.critic_opt.load_state_dict(training["critic_opt"])
        for k, s in training["schedulers"].items():
            self.schedulers[k].load_state_dict(s)
        self.fargan.load_state_dict(training["fargan"])
        self.step, self.skipped = int(training["step"]), int(training["skipped"])
        self.batches_drawn = int(training["batches_drawn"])

    def eval_generator(self) -> nn.Module:
        """The generator to sample from: the EMA copy when there is one."""
        return self.ema.module if self.ema is not None else self.unwrap(self.generator)
