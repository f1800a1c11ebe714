"""Figures of the image benchmark: a grid of samples, and one grid per recipe side by side."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from ..plotting import new_figure, save_figure


def tile(samples: np.ndarray, cols: int = 8, pad: int = 2) -> np.ndarray:
    """``samples (N, C, H, W)`` in [-1, 1] -> one image ``(rows*(H+pad)-pad, cols*(W+pad)-pad, C)`` in [0, 1],
    filled row by row; a gap of ``pad`` white pixels between tiles. ``C`` is 1 (grey) or 3 (RGB)."""
    samples = np.clip((np.asarray(samples, dtype=np.float32) + 1.0) / 2.0, 0.0, 1.0)
    n, c, h, w = samples.shape
    cols = max(1, min(cols, n))
    rows = -(-n // cols)
    grid = np.ones((rows * (h + pad) - pad, cols * (w + pad) - pad, c), dtype=np.float32)
    for i, img in enumerate(samples):
        r, k = divmod(i, cols)
        grid[r * (h + pad):r * (h + pad) + h, k * (w + pad):k * (w + pad) + w] = img.transpose(1, 2, 0)
    return grid


def _show(ax, samples: np.ndarray, title: str, cols: int) -> None:
    grid = tile(samples, cols)
    if grid.shape[2] == 1:
        ax.imshow(grid[:, :, 0], cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    else:
        ax.imshow(grid, interpolation="nearest")
    ax.set_title(title, fontsize=8)
    ax.axis("off")


def plot_grid(path: Path, samples: np.ndarray, title: str = "", cols: int = 8) -> None:
    """Save ``samples (N, C, H, W)`` as one grid of ``cols`` columns."""
    rows = -(-len(samples) // cols)
    fig, axes = new_figure(1, 1, (0.6 * cols + 0.4, 0.6 * rows + 0.6))
    _show(axes[0, 0], samples, title, cols)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)


def plot_panels(path: Path, panels: Sequence[tuple[str, np.ndarray]], cols: int = 5, grid_cols: int = 8) -> None:
    """One grid of samples per ``(title, samples)`` panel, ``cols`` panels a row."""
    rows = -(-len(panels) // cols)
    fig, axes = new_figure(rows, cols, (3.0 * cols, 3.2 * rows))
    for ax in axes.flat[len(panels):]:
        ax.axis("off")
    for ax, (title, samples) in zip(axes.flat, panels):
        _show(ax, samples, title, grid_cols)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)
