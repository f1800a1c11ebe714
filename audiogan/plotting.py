"""Figures, written once for every application: matplotlib's object API (no pyplot state, no backend
chosen at import time), saved atomically as PNG, and the loss curves of any run's ``metrics.jsonl``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence


from .checkpoint import atomic_write


def new_figure(rows: int = 1, cols: int = 1, size: tuple[float, float] = (4.0, 4.0)):
    """``(figure, axes (rows, cols))``: a figure not registered with pyplot, so nothing needs closing and
    no GUI backend is touched; it renders with Agg when saved."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=size)
    axes = fig.subplots(rows, cols, squeeze=False)
    return fig, axes


def save_figure(fig, path: str | Path, dpi: int = 100) -> None:
    """Write ``fig`` as PNG to ``path`` atomically (a temporary file renamed into place)."""
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=dpi, format="png"))


def loss_curves(metrics_path: Path, out: Path, keys: Sequence[str] | None = None) -> None:
    """Plot every logged scalar of ``metrics.jsonl`` (one panel per name) against the step.

    A name need not be in every row (validation scores are logged at checkpoints only): each panel plots
    the rows that have it, with markers when they are few. Per-layer-group gradient norms
    (``grad/generator/...``, ``grad/critic/...``) are left out: too many.
    """
    rows = [json.loads(line) for line in Path(metrics_path).read_text().splitlines() if line.strip()]
    if not rows:
        return
    if keys is None:
        seen: dict[str, None] = {}  # every name, in order of first appearance
        for r in rows:
            seen.update(dict.fromkeys(k for k in r if k != "step" and not k.startswith(("grad/generator/",
                                                                                         "grad/critic/"))))
        keys = list(seen)
    cols, rows_n = 3, -(-len(keys) // 3)
    fig, axes = new_figure(rows_n, cols, (4 * cols, 2.4 * rows_n))
    for ax, key in zip(axes.flat, keys):
        points = [(r["step"], r[key]) for r in rows if key in r]
        ax.plot(*zip(*points), lw=1, marker="o" if len(points) <= 40 else None, markersize=3)
        ax.set_title(key, fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in axes.flat[len(keys):]:
        ax.axis("off")
    # Fixed margins (in inches, so they hold for any number of rows): tight_layout costs more than drawing.
    height = 2.4 * rows_n
    fig.subplots_adjust(left=0.05, right=0.98, bottom=0.35 / height, top=1 - 0.3 / height, wspace=0.25,
                        hspace=0.55)
    save_figure(fig, out)
