"""The log of a training run: ``metrics.jsonl`` (one JSON line per logged step), TensorBoard, example
spectrograms and the loss curves; and :func:`run_summary`, which reads the log back."""

from __future__ import annotations

import json
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..checkpoint import atomic_write_text, cannot_write
from ..plotting import loss_curves, save_figure


def _truncate_metrics(path: Path, step: int) -> None:
    """On resume, drop log lines written after the checkpoint (they will be written again)."""
    if path.exists():
        keep = [line for line in path.read_text().splitlines() if line and json.loads(line)["step"] <= step]
        atomic_write_text(path, "".join(f"{line}\n" for line in keep))


class _NamedWriter:
    """A TensorBoard ``SummaryWriter`` whose failures name its folder: once its writer thread has failed (a
    full disk), every later call raises that thread's error, which names no file."""

    def __init__(self, writer: Any, folder: Path):
        self._writer, self._folder = writer, folder

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._writer, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return attr(*args, **kwargs)
            except OSError as err:
                raise cannot_write(err, self._folder) from err

        return call


class RunLogger:
    """What a training run writes as it goes: ``metrics.jsonl``, TensorBoard, ``spectrograms.png`` and
    ``loss_curves.png`` (drawn in a background thread)."""


    def __init__(self, run: Path, start_step: int, sample_rate: int):
        from torch.utils.tensorboard import SummaryWriter

        self.run, self.sr = run, sample_rate
        self.metrics = run / "metrics.jsonl"
        _truncate_metrics(self.metrics, start_step)
        writer = SummaryWriter(str(run / "tb"), purge_step=start_step if start_step else None)
        self.tb = _NamedWriter(writer, run / "tb")
        self._painter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="loss-curves")
        self._drawing: Future | None = None

    def scalars(self, step: int, stats: dict[str, float]) -> None:
        for k, v in stats.items():
            self.tb.add_scalar(k, v, step)
        try:
            with open(self.metrics, "a") as fh:
                fh.write(json.dumps({"step": step, **{k: round(float(v), 6) for k, v in stats.items()}}) + "\n")
        except OSError as err:
            raise cannot_write(err, self.metrics) from err

    def examples(self, step: int, signals: list[tuple[str, np.ndarray]]) -> None:
        from .evaluate.plots import spectrogram_figure

        for title, x in signals:
            self.tb.add_audio(f"audio/{title}", torch.from_numpy(x).unsqueeze(0), step, sample_rate=self.sr)
        fig = spectrogram_figure(signals, self.sr)
        save_figure(fig, self.run / "spectrograms.png")
        self.tb.add_figure("spectrograms", fig, step, close=False)

    def curves(self) -> None:
        """Redraw ``loss_curves.png`` in the background (a second or more on CPU): training goes on, and
        a request while a drawing is still running is dropped (the next checkpoint draws the newer data)."""
        if self._drawing is None or self._drawing.done():
            self._drawing = self._painter.submit(loss_curves, self.metrics, self.run / "loss_curves.png")

    def close(self) -> None:
        self._painter.shutdown(wait=True)
        if self._drawing is not None:
            self._drawing.result()  # a drawing error is raised, not lost
        self.tb.close()


def run_summary(run: str | Path) -> dict[str, Any]:
    """Last logged statistics and counts of a run (for the model card and reports)."""
    path = Path(run) / "metrics.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
    return {"last": rows[-1] if rows else {}, "logged": len(rows), "rows": rows}


def seen_at(run: str | Path, step: int) -> dict[str, Any]:
    """``{hours_seen, iterations, wall_h}`` of a run at ``step``, from its log (``None`` where not logged):
    hours include the run's own warm start; iterations and wall time are the run's."""
    rows = [r for r in run_summary(run)["rows"] if r["step"] <= step]
    last = lambda key: next((r[key] for r in reversed(rows) if key in r), None)  # noqa: E731
    return {"hours_seen": last("data/hours_seen"), "iterations": step, "wall_h": last("time/wall_h")}
