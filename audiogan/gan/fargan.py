"""FARGAN batching: fake-as-real (Tao et al., CVPR 2020, "Alleviation of Gradient Exploding in GANs:
Fake Can Be Real").

When the critic grows confident, its gradient on the fakes it scores highest explodes and the
generator collapses onto them. Tao et al. treat those high-scoring fakes as real: after each critic
step the ``count`` fakes the critic scored highest are detached and kept; the next critic step sees
them appended to its real batch. The design text this project comes from also offers it against the
"deep plateau" of very deep critics; measured in the stability ablation (pair d: a 64-layer plain critic at
full depth), it does not lift that plateau (with 1 of 64 fakes as real, nor 8): moving fakes into the real
batch does not change how the gradient passes through the critic's layers. Growing the critic does.
"""

from __future__ import annotations

import torch

Tensor = torch.Tensor


def per_sample_scores(scores: Tensor) -> Tensor:
    """Reduce critic scores ``(B, ...)`` (one per sample or a patch map) to ``(B,)`` by the mean."""
    return scores.reshape(scores.shape[0], -1).mean(dim=1)


class FakeAsRealBuffer:
    """Holds the top-scoring fakes of the last critic step for the next real batch.

    Args:
        count: how many fakes join each real batch (0 disables; default 1, as in the audio recipe).
    """

    def __init__(self, count: int = 1):
        if count < 0:
            raise ValueError("count must be >= 0")
        self.count = count
        self.held: Tensor | None = None

    def select(self, fake: Tensor, scores: Tensor) -> Tensor:
        """Keep the ``count`` fakes with the highest per-sample score; returns their indices."""
        k = min(self.count, fake.shape[0])
        if k == 0:
            self.held = None
            return torch.empty(0, dtype=torch.long, device=fake.device)
        idx = torch.topk(per_sample_scores(scores.detach()).float(), k).indices
        self.held = fake.detach()[idx].clone()
        return idx

    def mix(self, real: Tensor) -> Tensor:
        """``real`` with the held fakes appended along the batch dimension (unchanged if none held).

        The held fakes must match ``real`` in every non-batch dimension; otherwise they are dropped
        (for example when the sample length changes between batches).
        """
        if self.held is None or self.held.shape[1:] != real.shape[1:]:
            return real
        return torch.cat([real, self.held.to(device=real.device, dtype=real.dtype)], dim=0)

    @property
    def n_held(self) -> int:
        return 0 if self.held is None else int(self.held.shape[0])

    def state_dict(self) -> dict:
        return {"count": self.count, "held": self.held}

    def load_state_dict(self, state: dict) -> None:
        self.count = int(state["count"])
        self.held = state["held"]
