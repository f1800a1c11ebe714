"""Spectrogram comparisons of audio signals (training examples, evaluation files)."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from ...plotting import new_figure

DB_RANGE = 90.0  # dB shown below the loudest bin of all rows


def spectrogram_figure(signals: Sequence[tuple[str, np.ndarray]], sr: int, title: str | None = None,
                       notes: Mapping[str, str] | None = None):
    """One row per ``(name, mono signal)``: log-magnitude spectrograms in dB re full scale.

    Every row shares one colour scale (the loudest bin of all rows down to 90 dB below it), shown by a
    colour bar, so a change of level between the clean, input and output rows shows as a change of
    colour. ``title`` goes above the figure (the file, its family); ``notes[name]`` beside a row's name
    (its scores).
    """
    import librosa

    dbs = [20 * np.log10(np.abs(librosa.stft(np.asarray(x, dtype=np.float32), n_fft=512, hop_length=128)) + 1e-8)
           for _, x in signals]
    top = max(float(db.max()) for db in dbs)
    rows = len(signals)
    height = 2.2 * rows + (0.4 if title else 0.0)
    fig, axes = new_figure(rows, 1, (8.6, height))
    for ax, (name, x), db in zip(axes[:, 0], signals, dbs):
        image = ax.imshow(db, origin="lower", aspect="auto", cmap="magma", vmin=top - DB_RANGE, vmax=top,
                          extent=(0, len(x) / sr, 0, sr / 2000))
        note = (notes or {}).get(name)
        ax.set_title(f"{name}: {note}" if note else name, fontsize=9)
        ax.set_ylabel("kHz")
    axes[-1, 0].set_xlabel("seconds")
    # Fixed margins in inches (tight_layout does not place a shared colour bar, and costs more than drawing)
    fig.subplots_adjust(left=0.7 / 8.6, right=0.86, bottom=0.5 / height, top=1 - (0.75 if title else 0.3) / height,
                        hspace=0.6)
    fig.colorbar(image, ax=list(axes[:, 0]), label="dB re full scale", fraction=0.04, pad=0.02)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig
