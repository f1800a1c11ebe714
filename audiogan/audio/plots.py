"""Figures for audio runs: spectrogram comparisons and loss curves (matplotlib, Agg backend)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..checkpoint import atomic_write  # noqa: E402


def spectrogram_figure(signals: Sequence[tuple[str, np.ndarray]], sr: int):
    """One row per ``(title, mono signal)``: log-magnitude spectrogram in dB."""
    import librosa

    fig, axes = plt.subplots(len(signals), 1, figsize=(8, 2.2 * len(signals)), squeeze=False)
    for ax, (title, x) in zip(axes[:, 0], signals):
        db = librosa.amplitude_to_db(np.abs(librosa.stft(np.asarray(x, dtype=np.float32), n_fft=512,
                                                         hop_length=128)) + 1e-8, ref=1.0, top_db=90)
        ax.imshow(db, origin="lower", aspect="auto", cmap="magma", vmin=-90, vmax=db.max(),
                  extent=(0, len(x) / sr, 0, sr / 2000))
        ax.set_title(title, fontsize=9)
        ax.set_ylabel("kHz")
    axes[-1, 0].set_xlabel("seconds")
    fig.tight_layout()
    return fig


def save_figure(fig, path: Path) -> None:
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=100, format="png"))
    plt.close(fig)


def loss_curves(metrics_path: Path, out: Path, keys: Sequence[str] | None = None) -> None:
    """Plot every logged scalar of ``metrics.jsonl`` (one panel per name) against the step."""
    rows = [json.loads(line) for line in metrics_path.read_text().splitlines() if line.strip()]
    if not rows:
        return
    keys = list(keys or [k for k in rows[-1] if k != "step" and not k.startswith("grad/generator/")
                         and not k.startswith("grad/critic/")])
    cols = 3
    n_rows = -(-len(keys) // cols)
    fig, axes = plt.subplots(n_rows, cols, figsize=(4 * cols, 2.4 * n_rows), squeeze=False)
    steps = [r["step"] for r in rows]
    for ax, key in zip(axes.flat, keys):
        ax.plot(steps, [r.get(key, np.nan) for r in rows], lw=1)
        ax.set_title(key, fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in axes.flat[len(keys):]:
        ax.axis("off")
    fig.tight_layout()
    save_figure(fig, out)
