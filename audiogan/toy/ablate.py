"""Run every recipe over seeds 1..N, in parallel processes, and tabulate mean and std of each score.

Layout of ``OUT``::

    OUT/runs/<recipe>/seed_<n>/   what ``audiogan toy train`` writes (skipped when it finished with the
                                  recipe as it is now; rerun when the recipe file has changed since)
    OUT/table.md, OUT/table.json  per recipe: mean and std of modes, HQ %, reverse KL, wall time
    OUT/panels.png                one panel of samples per recipe (seed 1)
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .. import runs
from ..runs import check_names, pending, run_dir, train_in_workers
from .mixtures import get_mixture
from .train import load_recipe, recipe_dir, recipe_names, train_toy

METRICS = ("modes", "hq", "reverse_kl", "wall_s")


def _run(data: str, recipe: str, seed: int, out: str) -> dict:
    return train_toy(data, recipe, seed, Path(out))


def ablate(data: str, seeds: int, out: Path, recipes: Sequence[str] | None = None, workers: int = 2,
           on_done: Callable[[dict], None] | None = None) -> dict[str, dict[str, float]]:
    """Train every ``(recipe, seed)`` not yet done, then write the tables and the panel figure.

    ``workers`` processes train at once and split the CPU cores among them: more workers finish a
    table sooner (one process per core beats threads for these small MLPs), one worker gives each run
    every core (the shortest wall time per run).
    """
    get_mixture(data)  # validate before spawning anything
    names = check_names(list(recipes) if recipes else recipe_names(), recipe_dir())
    out = Path(out)
    jobs = pending(out, {r: load_recipe(r) for r in names}, seeds)
    train_in_workers(_run, data, out, jobs, workers, on_done)
    table = summarize(out, names, seeds)
    write_tables(out, data, seeds, table)
    plot_recipe_panels(out, data, names)
    return table


def summarize(out: Path, names: Sequence[str], seeds: int) -> dict[str, dict[str, float]]:
    table: dict[str, dict[str, float]] = {}
    for name in names:
        rows = [json.loads((run_dir(out, name, s) / "metrics.json").read_text()) for s in range(1, seeds + 1)]
        entry: dict[str, float] = {"runs": len(rows)}
        for key in METRICS:
            values = np.array([r[key] for r in rows], dtype=np.float64)
            if key == "hq":
                values = values * 100
            finite = values[np.isfinite(values)]
            entry[f"{key}_mean"] = float(values.mean()) if len(finite) == len(values) else math.inf
            entry[f"{key}_std"] = float(values.std()) if len(finite) == len(values) else math.inf
        table[name] = entry
    return table


def format_table(data: str, seeds: int, table: dict[str, dict[str, float]]) -> str:
    lines = [f"2-D {data}: mean ± std over seeds 1..{seeds} (2,500 samples each)", "",
             "| recipe | modes | HQ % | reverse KL | wall s |", "|---|---|---|---|---|"]
    for name, e in table.items():
        lines.append(f"| {name} | {e['modes_mean']:.1f} ± {e['modes_std']:.1f} | {e['hq_mean']:.1f} ± {e['hq_std']:.1f} "
                     f"| {e['reverse_kl_mean']:.3f} ± {e['reverse_kl_std']:.3f} | {e['wall_s_mean']:.0f} |")
    return "\n".join(lines) + "\n"


def write_tables(out: Path, data: str, seeds: int, table: dict[str, dict[str, float]]) -> None:
    runs.write_tables(out, data, seeds, table, format_table(data, seeds, table))


def plot_recipe_panels(out: Path, data: str, names: Sequence[str]) -> None:
    from .plots import plot_panels

    panels = []
    for name in names:
        d = run_dir(out, name, 1)
        m = json.loads((d / "metrics.json").read_text())
        title = f"{name}: {m['modes']} modes, {100 * m['hq']:.0f}% HQ"
        panels.append((title, np.load(d / "samples.npy")))
    plot_panels(out / "panels.png", panels, get_mixture(data))
