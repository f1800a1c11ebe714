"""What the benchmark applications (2-D, image) share to run recipes: finding and comparing recipe files,
and the worker processes of an ablation.

A recipe is a YAML file of a pydantic model with a ``description`` (one training method); an ablation
trains ``(recipe, seed)`` pairs in parallel processes that split the CPU cores and stop when the process
that started them is gone.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence, TypeVar

import pydantic

from .checkpoint import atomic_write_text
from .config import load_config
from .errors import ConfigError

R = TypeVar("R", bound=pydantic.BaseModel)


def recipe_names(directory: Path) -> list[str]:
    """The recipes in ``directory``: the stems of its YAML files, sorted."""
    return sorted(p.stem for p in Path(directory).glob("*.yaml"))


def load_recipe(name: str, directory: Path, recipe_type: type[R]) -> R:
    """The recipe called ``name`` (a file in ``directory``) or a path to a YAML file."""
    path = Path(name)
    if path.suffix in (".yaml", ".yml") and path.exists():
        return load_config(path, recipe_type)
    check_names([name], directory)
    return load_config(Path(directory) / f"{name}.yaml", recipe_type)


def check_names(names: list[str], directory: Path) -> list[str]:
    """``names``, every one a recipe in ``directory``; an unknown name is a :class:`ConfigError`."""
    valid = recipe_names(directory)
    unknown = sorted(set(names) - set(valid))
    if unknown:
        raise ConfigError(f"unknown recipe {unknown[0]!r}; valid: {', '.join(valid)}")
    return list(names)


def same_method(a: pydantic.BaseModel, b: pydantic.BaseModel) -> bool:
    """Whether two recipes train the same way (they may differ in their description only)."""
    return a.model_copy(update={"description": ""}) == b.model_copy(update={"description": ""})


def run_dir(out: Path, recipe: str, seed: int) -> Path:
    """Where an ablation keeps the run of ``recipe`` with ``seed``."""
    return Path(out) / "runs" / recipe / f"seed_{seed}"


def is_current(run: Path, recipe: R) -> bool:
    """Whether ``run`` finished (``metrics.json``) with the training method of ``recipe``, as it is today."""
    if not (run / "metrics.json").exists():
        return False
    try:
        used = load_config(run / "config.yaml", type(recipe))
    except ValueError:  # ConfigError included: an unreadable config means an unknown method
        return False
    return same_method(used, recipe)


def pending(out: Path, recipes: Mapping[str, pydantic.BaseModel], seeds: int) -> list[tuple[str, int]]:
    """The ``(recipe, seed)`` pairs of an ablation in ``out`` not yet finished with their current method."""
    return [(name, s) for name, recipe in recipes.items() for s in range(1, seeds + 1)
            if not is_current(run_dir(out, name, s), recipe)]


def train_in_workers(run_one: Callable[[str, str, int, str], Any], data: str, out: Path,
                     jobs: Sequence[tuple[str, int]], workers: int,
                     on_done: Callable[[Any], None] | None = None) -> None:
    """``run_one(data, recipe, seed, run_dir)`` for every job, in ``workers`` spawned processes that split
    the cores (:func:`threads_per_worker`) and end with this one; ``on_done`` gets each result."""
    if not jobs:
        return
    with ProcessPoolExecutor(max_workers=max(1, workers), mp_context=mp.get_context("spawn"),
                             initializer=init_worker, initargs=(threads_per_worker(workers),)) as pool:
        futures = [pool.submit(run_one, data, r, s, str(run_dir(out, r, s))) for r, s in jobs]
        for fut in as_completed(futures):
            result = fut.result()
            if on_done:
                on_done(result)


def write_tables(out: Path, data: str, seeds: int, table: dict[str, dict[str, float]], markdown: str) -> None:
    """An ablation's ``table.md`` (``markdown``) and ``table.json`` (the numbers), written atomically."""
    atomic_write_text(Path(out) / "table.md", markdown)
    atomic_write_text(Path(out) / "table.json", json.dumps({"data": data, "seeds": seeds, "recipes": table}, indent=2))


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def threads_per_worker(workers: int) -> int:
    """The cores split evenly among ``workers`` processes, at least one thread each."""
    return max(1, available_cores() // max(1, workers))


def init_worker(threads: int = 1) -> None:
    """Initialiser of an ablation's worker process: its torch threads, and a watcher that ends it with its
    parent."""
    import torch

    torch.set_num_threads(threads)
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()


def _exit_with_parent(parent: int, poll_s: float = 1.0) -> None:
    """Stop this worker once the process that started it is gone (a killed ablation leaves no orphans
    training in the background); the unfinished run leaves no metrics.json, so a rerun redoes it."""
    while os.getppid() == parent:
        time.sleep(poll_s)
    os._exit(1)
