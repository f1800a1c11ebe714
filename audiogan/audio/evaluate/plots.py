"""Spectrogram comparisons of audio signals (training examples, evaluation files)."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ...plotting import new_figure


def spectrogram_figure(signals: Sequence[tuple[str, np.ndarray]], sr: int):
    """One row per ``(title, mono signal)``: log-magnitude spectrogram in dB."""
    import librosa

    fig, axes = new_figure(len(signals), 1, (8, 2.2 * len(signals)))
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
