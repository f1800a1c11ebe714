"""Training the metric critic beside the GAN, with PESQ computed off the training step's path.

Each iteration the generator's outputs for its batch (detached) and their targets are handed to a thread
pool that scores them with the ``pesq`` package (wide-band, against the clean targets; the inputs too, as
MetricGAN+ does, so the critic also sees poor speech). At the next iteration the critic trains on that
batch: ``(D(y, t) - Q(y))^2 + (D(x, t) - Q(x))^2 + (D(t, t) - 1)^2`` with ``Q`` the normalised PESQ. By
then the scores have had a whole iteration to compute, so the step rarely waits, and it always waits for
exactly that batch, so a run is deterministic whatever the threads' timing. At a checkpoint the pending
batch is trained on first (a resumed run and a straight one then agree). The generator's term is
``loss/metric = mean (D(y, t) - 1)^2`` (the critic frozen), logged as the other terms are.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import torch

from .models.metric_critic import MetricCritic, MetricCriticConfig, normalised_pesq

Tensor = torch.Tensor


def _pesq_batch(outputs: np.ndarray, inputs: np.ndarray, targets: np.ndarray, sample_rate: int) -> np.ndarray:
    """Normalised PESQ of each output and each input against its target: ``(2, B)``; an unscorable
    segment (silence) gets the score of a perfect one only when it equals its target, else 0."""
    from pesq import pesq

    scores = np.zeros((2, len(targets)), dtype=np.float32)
    for row, signals in enumerate((outputs, inputs)):
        for i, (x, t) in enumerate(zip(signals, targets)):
            try:
                scores[row, i] = normalised_pesq(float(pesq(sample_rate, t.astype(np.float64), x.astype(np.float64), "wb")))
            except Exception:  # pesq refuses silence ("no utterances detected")
                scores[row, i] = 1.0 if np.array_equal(x, t) else 0.0
    return scores


class MetricLearner:
    """The metric critic, its optimiser and the pending scoring job; see the module docstring."""

    def __init__(self, cfg: MetricCriticConfig, sample_rate: int, lr: float, device: torch.device):
        self.critic = MetricCritic(cfg).to(device)
        self.optimizer = torch.optim.Adam(self.critic.parameters(), lr=lr, betas=(0.5, 0.9))
        self.sample_rate, self.device = sample_rate, device
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pesq")
        self._pending: tuple[Tensor, Tensor, Tensor, Future] | None = None
        self._batch: tuple[Tensor, Tensor, Tensor] | None = None  # stashed by generator_term
        self.last: dict[str, float] = {}

    def generator_term(self, fake: Tensor, degraded: Tensor, clean: Tensor) -> Tensor:
        """``mean (D(fake, clean) - 1)^2`` with the critic's weights frozen; stashes the batch for scoring."""
        self._batch = (fake.detach(), degraded.detach(), clean.detach())
        self.critic.requires_grad_(False)
        try:
            return (self.critic(fake, clean) - 1.0).square().mean()
        finally:
            self.critic.requires_grad_(True)

    def _train_on(self, outputs: Tensor, inputs: Tensor, targets: Tensor, scores: np.ndarray) -> dict[str, float]:
        q = torch.from_numpy(scores).to(self.device)
        pred_out, pred_in = self.critic(outputs, targets), self.critic(inputs, targets)
        loss = ((pred_out - q[0]).square().mean() + (pred_in - q[1]).square().mean()
                + (self.critic(targets, targets) - 1.0).square().mean())
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return {"metric/critic_loss": float(loss.detach()), "metric/pesq": float(scores[0].mean()) * 3.5 + 1.0,
                "metric/predicted": float(pred_out.detach().mean()) * 3.5 + 1.0}

    def after_iteration(self) -> dict[str, float]:
        """Train on the batch scored since the last iteration, then hand this iteration's batch to the pool."""
        stats = self.drain()
        if self._batch is not None:
            outputs, inputs, targets = self._batch
            self._batch = None
            job = self._pool.submit(_pesq_batch, outputs[:, 0].cpu().numpy(), inputs[:, 0].cpu().numpy(),
                                    targets[:, 0].cpu().numpy(), self.sample_rate)
            self._pending = (outputs, inputs, targets, job)
        return stats

    def drain(self) -> dict[str, float]:
        """Wait for the pending batch's scores and train on them (nothing pending: nothing done)."""
        if self._pending is None:
            return {}
        outputs, inputs, targets, job = self._pending
        self._pending = None
        self.last = self._train_on(outputs, inputs, targets, job.result())
        return self.last

    def state_dict(self) -> dict[str, Any]:
        return {"optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, weights: dict[str, Tensor], state: dict[str, Any]) -> None:
        self.critic.load_state_dict(weights, strict=True)
        self.optimizer.load_state_dict(state["optimizer"])

    def close(self) -> None:
        self._pool.shutdown(wait=True)
