"""Run every recipe over seeds 1..N, in parallel processes, and tabulate mean and std of each score.

Layout of ``OUT``::

    OUT/runs/<recipe>/seed_<n>/   what ``audiogan image train`` writes (skipped when it finished with the
                                  recipe as it is now; rerun when the recipe file has changed since)
    OUT/table.md, OUT/table.json  per recipe: mean and std of modes, KL to uniform, confidence, wall time
    OUT/panels.png                a grid of samples per recipe (seed 1)

The recipe and worker-process machinery is shared with the 2-D ablation (``audiogan/runs.py``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .. import runs
from ..runs import pending, run_dir, train_in_workers
from .data import get_data
from .scorer import DigitScorer
from .train import load_recipe, recipe_dir, recipe_names, resolve, train_image

METRICS = ("modes", "kl", "confidence", "wall_s")
PANEL_SAMPLES = 64


def _run(data: str, recipe: str, seed: int, out: str) -> dict:
    return train_image(data, recipe, seed, Path(out))


def check_names(recipes: Sequence[str] | None) -> list[str]:
    """The recipes to run (all when ``recipes`` is empty); an unknown name is a :class:`ConfigError`."""
    return runs.check_names(list(recipes) if recipes else recipe_names(), recipe_dir())


def ablate(data: str, seeds: int, out: Path, recipes: Sequence[str] | None = None, workers: int = 2,
           on_done: Callable[[dict], None] | None = None) -> dict[str, dict[str, float]]:
    """Train every ``(recipe, seed)`` not yet done, then write the tables and the panel figure.

    ``workers`` processes train at once and split the CPU cores among them. The classifier is trained
    (or loaded from its cache) here, once, before any worker starts.
    """
    image_data, names = get_data(data), check_names(recipes)  # validate before spawning anything
    out = Path(out)
    jobs = pending(out, {r: resolve(load_recipe(r), image_data) for r in names}, seeds)
    if jobs:
        DigitScorer.load_or_train()  # once, here, before any worker needs it
    train_in_workers(_run, data, out, jobs, workers, on_done)
    table = summarize(out, names, seeds)
    write_tables(out, data, seeds, table)
    plot_recipe_panels(out, names)
    return table


def summarize(out: Path, names: Sequence[str], seeds: int) -> dict[str, dict[str, float]]:
    table: dict[str, dict[str, float]] = {}
    for name in names:
        rows = [json.loads((run_dir(out, name, s) / "metrics.json").read_text()) for s in range(1, seeds + 1)]
        entry: dict[str, float] = {"runs": len(rows), "n_samples": rows[0]["n_samples"],
                                   "classifier_accuracy": rows[0]["classifier_accuracy"]}
        for key in METRICS:
            values = np.array([r[key] for r in rows], dtype=np.float64)
            if key == "confidence":
                values = values * 100
            finite = len(values[np.isfinite(values)]) == len(values)
            entry[f"{key}_mean"] = float(values.mean()) if finite else math.inf
            entry[f"{key}_std"] = float(values.std()) if finite else math.inf
        table[name] = entry
    return table


def format_table(data: str, seeds: int, table: dict[str, dict[str, float]]) -> str:
    first = next(iter(table.values()), {"n_samples": 0, "classifier_accuracy": 0.0})
    lines = [f"Image {data}: mean ± std over seeds 1..{seeds} ({first['n_samples']:,} samples each; digit "
             f"classifier {100 * first['classifier_accuracy']:.1f} % on held-out real digits)", "",
             "| recipe | modes | KL | confidence % | wall s |", "|---|---|---|---|---|"]
    for name, e in table.items():
        lines.append(f"| {name} | {e['modes_mean']:.1f} ± {e['modes_std']:.1f} | {e['kl_mean']:.3f} ± {e['kl_std']:.3f} "
                     f"| {e['confidence_mean']:.1f} ± {e['confidence_std']:.1f} | {e['wall_s_mean']:.0f} |")
    return "\n".join(lines) + "\n"


def write_tables(out: Path, data: str, seeds: int, table: dict[str, dict[str, float]]) -> None:
    runs.write_tables(out, data, seeds, table, format_table(data, seeds, table))


def plot_recipe_panels(out: Path, names: Sequence[str]) -> None:
    from .plots import plot_panels

    panels = []
    for name in names:
        d = run_dir(out, name, 1)
        m = json.loads((d / "metrics.json").read_text())
        samples = np.load(d / "samples.npy", mmap_mode="r")[:PANEL_SAMPLES]
        panels.append((f"{name}: {m['modes']} modes, KL {m['kl']:.2f}", np.asarray(samples)))
    plot_panels(out / "panels.png", panels)
