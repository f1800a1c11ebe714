"""Incremental depth growth against the "deep plateau" of very deep networks.

A network is built at full depth; this schedule says, for each training step, how many layers
(blocks) are active and how far the newest ones have faded in. Pure Python: no torch.

Timeline (``start=4, grow_by=2, stable=S, fade=F``)::

    step:   0 ........ S ....... S+F ....... S+F+S ....... S+2(F+S) ...
    depth:  4 (a=1)  | 6 fading | 6 (a=1)   | 8 fading    | ...        until max_depth, then (max, 1)
            stage 0    stage 1 (F + S steps)   stage 2

Incremental training of deep networks follows ProGAN (Karras et al. 2018) and, for depth rather than
resolution, the deep-plateau remedy of training layers incrementally.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GrowthSchedule:
    """Step -> (active depth, fade-in alpha).

    Attributes:
        start_depth: blocks active from step 0.
        max_depth: blocks at full depth.
        grow_by: blocks added per stage (the last stage may add fewer).
        stable_steps: steps each depth trains at alpha = 1 before the next stage begins.
        fade_steps: steps over which the new blocks' alpha ramps linearly from 0 to 1.
    """

    __pydantic_config__ = {"extra": "forbid"}

    start_depth: int
    max_depth: int
    grow_by: int = 1
    stable_steps: int = 1000
    fade_steps: int = 500

    def __post_init__(self) -> None:
        if not 0 < self.start_depth <= self.max_depth:
            raise ValueError(f"need 0 < start_depth <= max_depth, got {self.start_depth}, {self.max_depth}")
        if self.grow_by < 1 or self.stable_steps < 0 or self.fade_steps < 0:
            raise ValueError("grow_by must be >= 1 and step counts >= 0")

    def describe(self, unit: str = "blocks") -> str:
        """The schedule in words, e.g. "from 4 to 16 blocks, 2 at a time: each depth trains 150 steps,
        then the next blocks fade in over 100 steps; full depth from step 1500"."""
        if self.start_depth == self.max_depth:
            return f"{self.max_depth} {unit} from the start (no growth)"
        return (f"from {self.start_depth} to {self.max_depth} {unit}, {self.grow_by} at a time: each depth trains "
                f"{self.stable_steps} steps, then the next ones fade in over {self.fade_steps} steps; full depth "
                f"from step {self.total_steps}")

    @property
    def n_stages(self) -> int:
        """Number of growth stages after stage 0."""
        return -(-(self.max_depth - self.start_depth) // self.grow_by)

    @property
    def total_steps(self) -> int:
        """First step at which the network is at full depth with alpha = 1."""
        return self.n_stages * (self.fade_steps + self.stable_steps)

    def depth_at_stage(self, stage: int) -> int:
        return min(self.start_depth + stage * self.grow_by, self.max_depth)

    def fading_blocks(self, stage: int) -> int:
        """How many blocks fade in at ``stage`` (``grow_by``, fewer at the last stage)."""
        return self.depth_at_stage(stage) - self.depth_at_stage(stage - 1) if stage > 0 else 0

    def stage(self, step: int) -> int:
        if step < self.stable_steps:
            return 0
        return min((step - self.stable_steps) // (self.fade_steps + self.stable_steps) + 1, self.n_stages)

    def __call__(self, step: int) -> tuple[int, float]:
        """``(depth, alpha)`` at ``step`` (0-based)."""
        if step < 0:
            raise ValueError("step must be >= 0")
        stage = self.stage(step)
        if stage == 0:
            return self.start_depth, 1.0
        into = step - self.stable_steps - (stage - 1) * (self.fade_steps + self.stable_steps)
        alpha = 1.0 if self.fade_steps == 0 else min(1.0, into / self.fade_steps)
        return self.depth_at_stage(stage), alpha

    def fade_blocks(self, step: int) -> int:
        """Blocks that ``alpha`` applies to at ``step``."""
        return max(self.fading_blocks(self.stage(step)), 1)
