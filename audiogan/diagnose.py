"""``audiogan diagnose RUN``: a run's instability events in words, and plots of what the detectors watched.

Reads ``RUN/diagnostics.jsonl`` (events) and ``RUN/diagnostics_trace.jsonl`` (one sample every ``every``
iterations, see :mod:`audiogan.gan.diagnostics`), which every training run writes (audio, image, 2-D), and
writes into ``RUN/plots/``:

- ``losses.png``       every loss term against the step, one panel each;
- ``score_gap.png``    the critic's mean real and fake scores and their gap, and the weight norm of each network;
- ``grad_heatmap.png`` the gradient norm of every layer group over time (log10, input layers at the top),
  generator and critic, blank where a group had no gradient (not grown in yet);
- ``diversity.png``    the mean pairwise distance of fakes and of reals in a batch, and their ratio.

Every panel marks the events' steps with dashed lines.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import numpy as np

from .errors import UserError
from .gan.detectors import TITLES
from .gan.diagnostics import EVENTS_NAME, TRACE_NAME, Event, read_events, read_trace
from .plotting import new_figure, save_figure

PLOTS = ("losses.png", "score_gap.png", "grad_heatmap.png", "diversity.png")


def load(run: Path) -> tuple[list[Event], list[dict[str, float]]]:
    """The events and the trace of ``run``; a folder without a trace is a :class:`UserError`."""
    run = Path(run)
    if not (run / TRACE_NAME).is_file():
        raise UserError(f"{run}: no {TRACE_NAME}: not a training run folder, or trained before diagnostics existed")
    return read_events(run), read_trace(run)


def summary(run: Path) -> str:
    """A few lines: how much was watched, then per kind of event its count, first step and message."""
    events, trace = load(run)
    steps = [int(s["step"]) for s in trace]
    span = f"steps {steps[0]}..{steps[-1]}" if steps else "no sample yet"
    lines = [f"{run}: {len(trace)} samples ({span}), {len(events)} events"]
    if not events:
        lines.append("no instability detected")
    counts = Counter(e.kind for e in events)
    firsts: dict[str, Event] = {}
    for e in events:
        firsts.setdefault(e.kind, e)
    for kind, first in sorted(firsts.items(), key=lambda kv: kv[1].step):
        lines.append(f"- {TITLES.get(kind, kind)}: {counts[kind]} event(s), first: {first.message()}")
    return "\n".join(lines)


def _series(trace: list[dict[str, float]], key: str) -> tuple[np.ndarray, np.ndarray]:
    points = [(s["step"], s[key]) for s in trace if key in s]
    if not points:
        return np.zeros(0), np.zeros(0)
    steps, values = zip(*points)
    return np.asarray(steps, dtype=float), np.asarray(values, dtype=float)


def _mark(ax, events: list[Event]) -> None:
    for e in events:
        ax.axvline(e.step, color="tab:red", ls="--", lw=1.2, alpha=0.8)


def _panels(keys: list[str], trace, events, title: str, path: Path, log_keys: tuple[str, ...] = ()) -> None:
    cols = min(3, max(1, len(keys)))
    rows = max(1, -(-len(keys) // cols))
    fig, axes = new_figure(rows, cols, (4 * cols, 2.6 * rows))
    for ax, key in zip(axes.flat, keys):
        x, y = _series(trace, key)
        ax.plot(x, y, lw=1)
        if key in log_keys and len(y) and np.all(y[np.isfinite(y)] > 0):
            ax.set_yscale("log")
        ax.set_title(key, fontsize=9)
        ax.tick_params(labelsize=7)
        _mark(ax, events)
    for ax in axes.flat[len(keys):]:
        ax.axis("off")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)


def _heatmap(ax, trace, net: str, events: list[Event]) -> None:
    prefix = f"grad/{net}/"
    # Rows in the network's order: that of the sample with the most groups (a grown network lists them all),
    # then any group seen only elsewhere.
    widest = max(trace, key=lambda s: sum(k.startswith(prefix) for k in s))
    groups = dict.fromkeys(k for k in widest if k.startswith(prefix))
    for s in trace:
        groups.update(dict.fromkeys(k for k in s if k.startswith(prefix)))
    if not groups:
        ax.set_title(f"{net}: no layer-group gradients", fontsize=9)
        ax.axis("off")
        return
    names = list(groups)
    grid = np.full((len(names), len(trace)), np.nan)
    for j, s in enumerate(trace):
        for i, g in enumerate(names):
            if g in s and s[g] > 0 and math.isfinite(s[g]):
                grid[i, j] = math.log10(s[g])
    steps = [s["step"] for s in trace]
    image = ax.imshow(np.ma.masked_invalid(grid), aspect="auto", interpolation="nearest", cmap="viridis",
                      extent=(steps[0], steps[-1], len(names) - 0.5, -0.5))
    every = max(1, len(names) // 24)  # at most ~24 labels
    ax.set_yticks(range(0, len(names), every))
    ax.set_yticklabels([n[len(prefix):] for n in names[::every]], fontsize=6)
    ax.set_title(f"{net}: log10 |grad| per layer group", fontsize=9)
    ax.tick_params(labelsize=7)
    ax.figure.colorbar(image, ax=ax, fraction=0.03)
    _mark(ax, events)


def plot(run: Path) -> list[Path]:
    """Write the four figures into ``RUN/plots/``; returns their paths."""
    run = Path(run)
    events, trace = load(run)
    folder = run / "plots"
    folder.mkdir(exist_ok=True)
    keys: dict[str, None] = {}
    for s in trace:
        keys.update(dict.fromkeys(k for k in s if k.startswith("loss/")))
    _panels(list(keys) or ["loss/critic"], trace, events, "losses", folder / PLOTS[0])
    _panels(["critic/real", "critic/fake", "critic/gap", "weights/generator", "weights/critic", "grad/generator",
             "grad/critic"], trace, events, "critic scores, weight norms, gradient norms", folder / PLOTS[1],
            log_keys=("weights/generator", "weights/critic", "grad/generator", "grad/critic"))
    fig, axes = new_figure(2, 1, (10, 7))
    for ax, net in zip(axes.flat, ("generator", "critic")):
        if trace:
            _heatmap(ax, trace, net, events)
    fig.tight_layout()
    save_figure(fig, folder / PLOTS[2])
    _panels(["diversity/ratio", "diversity/fake", "diversity/real"], trace, events,
            "batch diversity: mean pairwise distance", folder / PLOTS[3])
    return [folder / name for name in PLOTS]


__all__ = ["EVENTS_NAME", "PLOTS", "load", "plot", "summary"]
