"""Figures of the 2-D benchmark: samples over the true modes, one panel or a grid of recipes."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from ..plotting import new_figure, save_figure
from .mixtures import Mixture


def _panel(ax, samples: np.ndarray, mixture: Mixture, title: str) -> None:
    ax.scatter(samples[:, 0], samples[:, 1], s=2, alpha=0.4, color="tab:blue", linewidths=0)
    ax.scatter(mixture.centers[:, 0], mixture.centers[:, 1], s=12, color="tab:red", marker="x")
    lim = 1.5 * np.abs(mixture.centers).max()
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.set_title(title, fontsize=8)
    ax.tick_params(labelsize=6)


def plot_samples(path: Path, samples: np.ndarray, mixture: Mixture, title: str) -> None:
    fig, axes = new_figure(1, 1, (4, 4))
    _panel(axes[0, 0], samples, mixture, title)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)


def plot_panels(path: Path, panels: Sequence[tuple[str, np.ndarray]], mixture: Mixture, cols: int = 5) -> None:
    rows = -(-len(panels) // cols)
    fig, axes = new_figure(rows, cols, (2.6 * cols, 2.6 * rows))
    for ax in axes.flat[len(panels):]:
        ax.axis("off")
    for ax, (title, samples) in zip(axes.flat, panels):
        _panel(ax, samples, mixture, title)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)
