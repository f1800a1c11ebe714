"""The stability ablation: each training failure the GAN literature names, the detector that names it, and
the remedies for it, on small problems (the 2-D ring, real digits).

Every failure is a recipe in ``configs/stability/`` and every remedy a recipe that changes only the remedy;
each trains with the detectors' default thresholds (one ``DiagnosticsConfig`` for every run, never set per
run). A pair *reproduces* when its detector fires in every failure run and stays silent in every remedy
run; the table says so, seed by seed, with each run's outcome (modes captured and HQ samples on the ring,
modes and KL to uniform on digits) and every other event it raised.

Layout of ``OUT``::

    OUT/runs/<recipe>/seed_<n>/   what ``audiogan toy train`` (or ``image train``) writes, with the run's
                                  diagnostics.jsonl and diagnostics_trace.jsonl (skipped when finished with
                                  the recipe as it is now)
    OUT/table.md, OUT/table.json  per pair, remedy and seed: the detector's verdicts and the outcomes
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pydantic

from . import runs
from .errors import ConfigError
from .gan.detectors import TITLES
from .resources import configs_dir
from .runs import pending, run_dir, train_in_workers
from .stability_deep import DeepRecipe, train_deep

IMAGE_SAMPLES = 1000  # digits scored per image run (its classifier's modes and KL; the image benchmark uses 10,000)


@dataclass(frozen=True)
class Pair:
    """One failure and its remedies: recipe names in ``configs/stability/``."""

    failure_text: str  # the failure, in words
    app: str  # toy | image | deep: which training function runs its recipes
    data: str  # ring | digits
    failure: str
    remedies: tuple[str, ...]
    kinds: tuple[str, ...]  # the detector kinds that name this failure (any one counts)


PAIRS = (
    Pair("minimax BCE, too-strong critic", "image", "digits", "a-minimax-strong-critic", ("a-wasserstein-gp",),
         ("vanishing_gradient",)),
    Pair("weight clipping, bad constant", "toy", "ring", "b-clip-bad-constant", ("b-gradient-penalty",),
         ("vanishing_gradient", "exploding_gradient")),
    Pair("32-block critic, no normalisation", "deep", "ring", "c-deep-critic", ("c-spectral-norm-l2",),
         ("divergence",)),
    Pair("64-layer plain critic at full depth", "deep", "ring", "d-deep-critic", ("d-growth", "d-fargan"),
         ("deep_plateau",)),
    Pair("minimax BCE on the ring", "toy", "ring", "e-minimax-ring", ("e-minibatch", "e-unrolled", "e-diversity"),
         ("mode_collapse",)),
    Pair("dominant critic", "image", "digits", "f-dominant-critic", ("f-two-generator-steps", "f-label-smoothing",
                                                                       "f-two-sided-smoothing"),
         ("dominant_critic",)),
)


def recipe_dir() -> Path:
    return configs_dir() / "stability"


def recipe_pairs() -> dict[str, Pair]:
    """Every recipe name, failure or remedy, with its pair."""
    return {name: p for p in PAIRS for name in (p.failure, *p.remedies)}


def load_recipe(name: str) -> pydantic.BaseModel:
    """The recipe ``name`` as its application resolves it (an image recipe gets its data's channels)."""
    pair = recipe_pairs()[name]
    path = recipe_dir() / f"{name}.yaml"
    if pair.app == "image":
        from .image.data import get_data
        from .image.train import load_recipe as load_image, resolve

        return resolve(load_image(str(path)), get_data(pair.data))
    if pair.app == "deep":
        return runs.load_recipe(name, recipe_dir(), DeepRecipe)
    from .toy.train import ToyRecipe

    return runs.load_recipe(name, recipe_dir(), ToyRecipe)


def _run(_: str, recipe: str, seed: int, out: str) -> dict:
    """Train one run (in a worker process); the detectors' console warnings are left to the table."""
    logging.getLogger("audiogan.gan.diagnostics").setLevel(logging.ERROR)
    pair, path = recipe_pairs()[recipe], str(recipe_dir() / f"{recipe}.yaml")
    if pair.app == "image":
        from .image.train import train_image

        return train_image(pair.data, path, seed, Path(out), n_samples=IMAGE_SAMPLES)
    if pair.app == "deep":
        return train_deep(pair.data, path, seed, Path(out))
    from .toy.train import train_toy

    return train_toy(pair.data, path, seed, Path(out))


def check_names(names: list[str] | None) -> list[Pair]:
    """The pairs whose failure recipe is in ``names`` (all when empty); an unknown name is a ConfigError."""
    if not names:
        return list(PAIRS)
    known = {p.failure: p for p in PAIRS}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ConfigError(f"unknown failure {unknown[0]!r}; valid: {', '.join(known)}")
    return [known[n] for n in names]


def ablate_stability(out: Path, seeds: int = 3, pairs: list[str] | None = None, workers: int = 1,
                     on_done: Callable[[dict], None] | None = None) -> dict[str, Any]:
    """Train every ``(recipe, seed)`` of the chosen pairs not yet done, then write ``table.md`` and
    ``table.json``; returns the table. ``wall_s`` in it is this call's wall time (all of it when nothing
    was done before)."""
    if seeds < 1:
        raise ConfigError(f"seeds must be >= 1, got {seeds}")
    chosen = check_names(pairs)
    start = time.perf_counter()
    out = Path(out)
    names = [n for p in chosen for n in (p.failure, *p.remedies)]
    jobs = pending(out, {n: load_recipe(n) for n in names}, seeds)
    if any(recipe_pairs()[r].app == "image" for r, _ in jobs):
        from .image.scorer import DigitScorer

        DigitScorer.load_or_train()  # once, here, before any worker needs it
    train_in_workers(_run, "stability", out, jobs, workers, on_done)
    table = summarize(out, chosen, seeds)
    table.update({"wall_s": round(time.perf_counter() - start, 1), "runs_trained": len(jobs), "workers": workers})
    runs.write_tables(out, "stability", seeds, table, format_table(table))
    return table


def _outcome(m: dict) -> str:
    if "hq" in m:
        return f"{m['modes']} modes, {100 * m['hq']:.1f}% HQ"
    return f"{m['modes']} modes, KL {m['kl']:.2f}"


def _first(events: dict[str, int], kinds: tuple[str, ...]) -> int | None:
    steps = [events[k] for k in kinds if k in events]
    return min(steps) if steps else None


def summarize(out: Path, chosen: list[Pair], seeds: int) -> dict[str, Any]:
    """Per pair, remedy and seed: whether the failure run raised the pair's detector and the remedy run did
    not, the steps, the outcomes and every event of both runs."""
    metrics = lambda name, s: json.loads((run_dir(out, name, s) / "metrics.json").read_text())  # noqa: E731
    rows, verdicts = [], {}
    for pair in chosen:
        failures = {s: metrics(pair.failure, s) for s in range(1, seeds + 1)}
        pair_ok = True
        for remedy in pair.remedies:
            fired = silent = 0
            for s in range(1, seeds + 1):
                f, r = failures[s], metrics(remedy, s)
                f_step, r_step = _first(f["events"], pair.kinds), _first(r["events"], pair.kinds)
                fired, silent = fired + (f_step is not None), silent + (r_step is None)
                rows.append({"failure": pair.failure, "remedy": remedy, "seed": s, "kinds": list(pair.kinds),
                             "failure_fired_at": f_step, "remedy_fired_at": r_step,
                             "failure_outcome": _outcome(f), "remedy_outcome": _outcome(r),
                             "failure_events": f["events"], "remedy_events": r["events"],
                             "failure_wall_s": f["wall_s"], "remedy_wall_s": r["wall_s"]})
            ok = fired == silent == seeds
            pair_ok &= ok
            verdicts[f"{pair.failure} -> {remedy}"] = {"reproduces": ok, "fired": fired, "silent": silent}
        verdicts[pair.failure] = {"reproduces": pair_ok, "text": pair.failure_text}
    reproduced = sum(verdicts[p.failure]["reproduces"] for p in chosen)
    runs_wall = sum(r["remedy_wall_s"] for r in rows) + sum(
        metrics(p.failure, s)["wall_s"] for p in chosen for s in range(1, seeds + 1))
    return {"seeds": seeds, "pairs": len(chosen), "reproduced": reproduced, "verdicts": verdicts, "rows": rows,
            "runs_wall_s": round(runs_wall, 1)}


def _events(events: dict[str, int], skip: tuple[str, ...]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(events.items(), key=lambda kv: kv[1]) if k not in skip) or "-"


def format_table(table: dict[str, Any]) -> str:
    seeds = table["seeds"]
    lines = [f"Stability ablation: {table['reproduced']} of {table['pairs']} failures reproduce (the detector fires in "
             f"every failure run and in no remedy run, seeds 1..{seeds})", "",
             "| failure -> remedy | detector | seed | failure run | failure outcome | remedy run | remedy outcome "
             "| other events (failure / remedy) |", "|---|---|---|---|---|---|---|---|"]
    for r in table["rows"]:
        kinds = tuple(r["kinds"])
        fired = f"fired at {r['failure_fired_at']}" if r["failure_fired_at"] is not None else "**silent**"
        silent = "silent" if r["remedy_fired_at"] is None else f"**fired at {r['remedy_fired_at']}**"
        lines.append(f"| {r['failure']} -> {r['remedy']} | {' or '.join(TITLES[k] for k in kinds)} | {r['seed']} "
                     f"| {fired} | {r['failure_outcome']} | {silent} | {r['remedy_outcome']} "
                     f"| {_events(r['failure_events'], kinds)} / {_events(r['remedy_events'], kinds)} |")
    lines += ["", "| failure | remedy | verdict |", "|---|---|---|"]
    for key, v in table["verdicts"].items():
        if " -> " not in key:
            continue
        failure, remedy = key.split(" -> ")
        text = "reproduces" if v["reproduces"] else (f"does not reproduce: fired in {v['fired']}/{seeds} failure runs, "
                                                     f"silent in {v['silent']}/{seeds} remedy runs")
        lines.append(f"| {failure} ({table['verdicts'][failure]['text']}) | {remedy} | {text} |")
    if "wall_s" in table:
        lines += ["", f"Wall time: {table['wall_s']:.0f} s for {table['runs_trained']} runs trained by this call "
                      f"({table['workers']} worker(s)); training time of all runs {table['runs_wall_s']:.0f} s."]
    return "\n".join(lines) + "\n"
