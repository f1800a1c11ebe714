"""Live instability diagnostics: every training run watches itself for the failures the core's remedies exist for.

A :class:`Monitor` is called after each training iteration with the statistics the step returned. Every
``every`` iterations it takes a *sample*: those statistics, plus what only it measures (gradient norm per
layer group, weight norms of both networks, and the diversity of the last generated batch against the real
one, on a feature the application supplies), and feeds the detectors of :mod:`audiogan.gan.detectors`.
An event (step, kind, evidence, remedy) is raised when a detector's condition starts to hold, and goes to

- ``RUN/diagnostics.jsonl`` (one JSON object per event),
- the console, as a ``logging`` warning, once per kind (not once per step),
- TensorBoard, when the application passes its writer (``diagnostics/events`` text and one scalar per kind).

Every sample goes to ``RUN/diagnostics_trace.jsonl`` (``audiogan diagnose`` plots it) and its extra
statistics to TensorBoard under ``diagnostics/``. Measuring reads tensors only (gradients, parameters, the
batch the step already made): no forward pass, no random number, no change to what training computes. On
resume the two files are cut back to the checkpoint's step and the kept samples are replayed through fresh
detectors, which rebuilds their state exactly; a run without a trace (saved before diagnostics existed)
starts them afresh.
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import torch
from torch import nn

from .detectors import TITLES, DiagnosticsConfig, history_length, make_detectors, remedy
from .grads import grad_norms_by_group

Tensor = torch.Tensor
EVENTS_NAME = "diagnostics.jsonl"
TRACE_NAME = "diagnostics_trace.jsonl"
log = logging.getLogger(__name__)

# How evidence reads in a message.
LABELS = {"grad_G": "|grad G|", "peak_grad_G": "peak |grad G|", "loss_D": "D loss", "grad_D": "|grad D|",
          "weight_norm_D": "|weights D|", "weight_growth": "growth", "score_D": "|D score|",
          "chance_loss_D": "chance D loss", "dominant_samples": "samples in a row",
          "diversity_ratio": "diversity fake/real", "diversity_fake": "fake", "diversity_real": "real",
          "early_late_ratio_G": "|grad G| first/last layers", "layer_groups_G": "G layer groups",
          "early_late_ratio_D": "|grad D| first/last layers", "layer_groups_D": "D layer groups",
          "lowest_early_late_ratio_D": "lowest |grad D| first/last layers",
          "peak_power": "one frequency's share", "swing_loss_D": "D loss swing", "skipped_steps": "skipped steps",
          "non_finite_terms": "non-finite terms"}


@dataclass(frozen=True)
class Event:
    """One detected failure: when, what, the numbers that triggered it and what to try."""

    step: int
    kind: str
    evidence: dict[str, float] = field(default_factory=dict)
    remedy: str = ""

    def message(self) -> str:
        """E.g. ``vanishing generator gradient at step 1200 (|grad G| 3e-07, D loss 0.002): use the ...``."""
        numbers = ", ".join(f"{LABELS.get(k, k)} {v:.3g}" for k, v in self.evidence.items())
        return f"{TITLES.get(self.kind, self.kind)} at step {self.step} ({numbers}): {self.remedy}"

    def to_json(self) -> dict[str, Any]:
        return {"step": self.step, "kind": self.kind, "evidence": self.evidence, "remedy": self.remedy,
                "message": self.message()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Event":
        return cls(int(data["step"]), str(data["kind"]), {k: float(v) for k, v in data["evidence"].items()},
                   str(data["remedy"]))


def flat_features(x: Tensor) -> Tensor:
    """The default diversity feature: each sample flattened to a vector."""
    return x.flatten(1)


def mean_pairwise_distance(features: Tensor) -> float:
    """Mean Euclidean distance over the pairs of rows of ``features (N, D)``."""
    return float(torch.pdist(features.flatten(1).float()).mean()) if features.shape[0] > 1 else math.nan


def weight_norm(module: nn.Module) -> float:
    """L2 norm of all of ``module``'s parameters. Parametrised weights count as stored (spectral norm's
    ``original``), read without running the parametrisation, whose power iteration would change its state."""
    norms = [p.detach().float().norm() for p in module.parameters()]
    return float(torch.linalg.vector_norm(torch.stack(norms))) if norms else 0.0


def unwrapped(module: nn.Module) -> nn.Module:
    """The network inside a ``DistributedDataParallel`` wrapper (so layer groups keep their names)."""
    return module.module if isinstance(module, nn.parallel.DistributedDataParallel) else module


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    path = Path(path)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def read_events(run: Path) -> list[Event]:
    return [Event.from_json(e) for e in read_jsonl(Path(run) / EVENTS_NAME)]


def read_trace(run: Path) -> list[dict[str, float]]:
    return read_jsonl(Path(run) / TRACE_NAME)


def _cut(path: Path, step: int) -> list[dict[str, Any]]:
    """Keep the lines of ``path`` at or before ``step`` (rewritten atomically); returns them."""
    rows = [r for r in read_jsonl(path) if r["step"] <= step]
    if path.exists():
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        tmp.write_text("".join(json.dumps(r) + "\n" for r in rows))
        os.replace(tmp, path)
    return rows


class Monitor:
    """Samples a run every ``config.every`` iterations and raises :class:`Event`\\ s.

    Args:
        config: the thresholds (:class:`DiagnosticsConfig`).
        adversarial: the run's :class:`~audiogan.gan.config.AdversarialConfig` (the loss family sets the
            critic's chance loss; the remedies are worded for what the run already uses).
        run: the run folder for ``diagnostics.jsonl`` and ``diagnostics_trace.jsonl``; ``None`` keeps the
            events in memory only.
        features: ``f(batch (B, ...)) -> (B, D)``, the feature whose pairwise distances measure diversity
            (default: the flattened samples).
        writer: a TensorBoard ``SummaryWriter`` (anything with ``add_scalar`` and ``add_text``), or ``None``.
        start_step: the step training starts from; a resumed run's files are cut back to it and replayed.
    """

    def __init__(self, config: DiagnosticsConfig, adversarial: Any, run: str | Path | None = None,
                 features: Callable[[Tensor], Tensor] | None = None, writer: Any = None, start_step: int = 0):
        self.config, self.adversarial = config, adversarial
        self.run = Path(run) if run is not None else None
        self.features = features or flat_features
        self.writer = writer
        self.detectors = make_detectors(config, getattr(adversarial, "loss", ""),
                                        (float(getattr(adversarial, "real_target", 1.0)),
                                         float(getattr(adversarial, "fake_target", 0.0))))
        self.history: list[dict[str, float]] = []
        self.events: list[Event] = []
        self.active: set[str] = set()  # kinds whose condition held at the last sample
        self.warned: set[str] = set()  # kinds already shown on the console
        if self.run is not None and config.enabled:
            self._restore(start_step)

    # -- per iteration ----------------------------------------------------------------------------
    def after_iteration(self, trainer: Any, stats: Mapping[str, float]) -> list[Event]:
        """Call once after each ``trainer.train_iteration``; samples when ``trainer.step`` is a multiple of
        ``every`` and returns the events it raised."""
        if not self.config.enabled or trainer.step % self.config.every:
            return []
        sample = self.measure(trainer, stats)
        if self.run is not None:
            with open(self.run / TRACE_NAME, "a") as fh:
                fh.write(json.dumps(sample) + "\n")
        if self.writer is not None:
            for key in ("weights/generator", "weights/critic", "diversity/ratio"):
                if key in sample:
                    self.writer.add_scalar(f"diagnostics/{key}", sample[key], sample["step"])
        return self.observe(sample)

    @torch.no_grad()
    def measure(self, trainer: Any, stats: Mapping[str, float]) -> dict[str, float]:
        """One sample: ``step``, the step's statistics and the extra ones (see the module docstring)."""
        sample: dict[str, float] = {"step": trainer.step}
        sample.update({k: float(v) for k, v in stats.items()})
        generator, critic = unwrapped(trainer.generator), unwrapped(trainer.critic)
        sample["weights/generator"] = weight_norm(generator)
        sample["weights/critic"] = weight_norm(critic)
        batch = getattr(trainer, "last_batch", None)
        if batch is not None:
            n = self.config.diversity_samples
            fake, real = (self.features(x[:n].float()) for x in batch)
            d_fake, d_real = mean_pairwise_distance(fake), mean_pairwise_distance(real)
            sample.update({"diversity/fake": d_fake, "diversity/real": d_real,
                           "diversity/ratio": d_fake / d_real if d_real > 0 else math.nan})
        sample.update(grad_norms_by_group(generator, "generator"))
        sample.update(grad_norms_by_group(critic, "critic"))
        return sample

    def observe(self, sample: Mapping[str, float], replay: bool = False) -> list[Event]:
        """Feed one sample to every detector; returns the events that start at it (and records them)."""
        self.history.append(dict(sample))
        del self.history[:-history_length(self.config)]
        raised = []
        for detector in self.detectors:
            evidence = detector(self.history)
            if evidence is None:
                self.active.discard(detector.kind)
                continue
            if detector.kind in self.active:
                continue
            self.active.add(detector.kind)
            event = Event(int(sample["step"]), detector.kind, evidence, remedy(detector.kind, self.adversarial))
            self.events.append(event)
            raised.append(event)
            if not replay:
                self._emit(event)
            self.warned.add(event.kind)
        return raised

    def _emit(self, event: Event) -> None:
        if event.kind not in self.warned:
            log.warning(event.message())
        if self.run is not None:
            with open(self.run / EVENTS_NAME, "a") as fh:
                fh.write(json.dumps(event.to_json()) + "\n")
        if self.writer is not None:
            self.writer.add_text("diagnostics/events", event.message(), event.step)
            self.writer.add_scalar(f"diagnostics/event/{event.kind}", 1.0, event.step)

    def _restore(self, start_step: int) -> None:
        """Cut the run's files back to ``start_step`` and replay the kept samples (a fresh run: both empty)."""
        _cut(self.run / EVENTS_NAME, start_step)
        for sample in _cut(self.run / TRACE_NAME, start_step):
            self.observe(sample, replay=True)

    # -- results ----------------------------------------------------------------------------------
    def summary(self) -> dict[str, int]:
        """``{kind: first step}`` of every kind raised so far."""
        first: dict[str, int] = {}
        for e in self.events:
            first.setdefault(e.kind, e.step)
        return first
