"""The demo's second tab: a recipe of the 2-D benchmark trained live, drawn as it trains.

:func:`~audiogan.toy.train.train_toy` runs in a thread; its ``snapshot`` callback hands over the evaluation
generator's samples at every log point (``log_every`` of the recipe), and each becomes a plot of the samples
over the true modes (:func:`~audiogan.toy.plots.plot_samples`) with the benchmark's scores
(:func:`~audiogan.toy.mixtures.score`). When drawing lags training, only the newest samples are drawn. The
run ends at its next log point once ``stop`` is set or the iterator is closed (the page's Stop button, a new
run from the same page, or the page closed).
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from ..errors import ConfigError

MAX_TOY_ITERATIONS = 20000


def toy_choices() -> tuple[list[str], list[str]]:
    """``(mixtures, recipes)`` of the 2-D benchmark."""
    from ..toy.mixtures import MIXTURES
    from ..toy.train import recipe_names

    return list(MIXTURES), recipe_names()


def toy_iterations(recipe: str) -> int:
    """The iterations a recipe trains for."""
    from ..toy.train import load_recipe

    return load_recipe(recipe).iterations


@dataclass
class ToyFrame:
    """One picture of a 2-D run: its samples over the true modes at an iteration, with their scores."""

    image: Path
    iteration: int
    total: int
    scores: dict  # modes, hq (0..1), reverse_kl
    done: bool = False

    def text(self) -> str:
        state = "finished" if self.done else "training"
        return (f"{state}: iteration {self.iteration}/{self.total}, {self.scores['modes']} modes captured, "
                f"{100 * self.scores['hq']:.1f}% high-quality samples, reverse KL {self.scores['reverse_kl']:.3f}")


class _Stopped(Exception):
    """Raised in the trainer's callback to end a live run."""


def train_live(data: str, recipe: str, iterations: int | None, seed: int, new_job: Callable[[], Path],
               stop: threading.Event | None = None) -> Iterator[ToyFrame]:
    """Train ``recipe`` (a name in ``configs/toy/`` or a YAML path) on ``data`` and yield a :class:`ToyFrame`
    at every log point, the last one ``done`` (the run's own ``samples.png`` and scores). Arguments are
    checked before anything starts; ``new_job()`` gives the folder for the run's files."""
    from ..toy.mixtures import get_mixture, score
    from ..toy.plots import plot_samples
    from ..toy.train import load_recipe, train_toy

    mixture = get_mixture(data)
    load_recipe(recipe)  # an unknown recipe is refused here, before a thread starts
    if iterations is not None and not 1 <= int(iterations) <= MAX_TOY_ITERATIONS:
        raise ConfigError(f"iterations must be in 1..{MAX_TOY_ITERATIONS}, got {iterations}")
    stop = stop or threading.Event()
    job = new_job()
    events: queue.Queue = queue.Queue()

    def snapshot(i: int, n: int, samples: np.ndarray) -> None:
        if stop.is_set():
            raise _Stopped
        events.put(("frame", i, n, samples))

    def run() -> None:
        try:
            metrics = train_toy(data, recipe, int(seed), job / "run", snapshot=snapshot,
                                iterations=None if iterations is None else int(iterations))
            events.put(("done", metrics))
        except _Stopped:
            events.put(("stopped",))
        except BaseException as err:  # handed to the consumer's thread, which reports it in one line
            events.put(("error", err))

    threading.Thread(target=run, name="audiogan-demo-toy", daemon=True).start()
    try:
        while True:
            event = events.get()
            while event[0] == "frame" and not events.empty():  # drawing lags training: draw the newest
                event = events.get()
            kind = event[0]
            if stop.is_set() and kind != "error":  # stopped while this was on its way: show no more
                return
            if kind == "frame":
                _, i, n, samples = event
                image = job / f"samples-{i:06d}.png"
                plot_samples(image, samples, mixture, title=f"{Path(recipe).stem} on {data}: iteration {i}/{n}")
                yield ToyFrame(image, i, n, score(samples, mixture))
            elif kind == "done":
                m = event[1]
                yield ToyFrame(job / "run" / "samples.png", m["iterations"], m["iterations"],
                               {k: m[k] for k in ("modes", "hq", "reverse_kl")}, done=True)
                return
            elif kind == "stopped":
                return
            else:
                raise event[1]
    finally:
        stop.set()
