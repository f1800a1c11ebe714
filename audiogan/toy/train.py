"""Train one recipe of the 2-D benchmark and write its samples, metrics, plot, config and log."""

from __future__ import annotations

import copy
import json
import time
from contextlib import contextmanager
from dataclasses import field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pydantic
import torch

from ..checkpoint import atomic_write, atomic_write_text, make_folder
from ..config import dump_yaml
from ..gan import (AdversarialConfig, AdversarialTrainer, DiagnosticsConfig, Monitor, OptimizerConfig, make_optimizer,
                   make_scheduler)
from ..gan.constraints import apply_spectral_norm
from .. import runs
from ..resources import configs_dir
from .mixtures import N_EVAL_SAMPLES, Mixture, get_mixture, score
from .model import MLPCritic, MLPGenerator, ToyModelConfig


def recipe_dir() -> Path:
    """The shipped recipes (``configs/toy/``)."""
    return configs_dir() / "toy"


class ToyRecipe(pydantic.BaseModel):
    """One training method. Every recipe shares ``model`` sizes; only the method differs."""

    model_config = pydantic.ConfigDict(extra="forbid")

    description: str = ""
    model: ToyModelConfig = field(default_factory=ToyModelConfig)
    adversarial: AdversarialConfig = field(default_factory=AdversarialConfig)
    generator_opt: OptimizerConfig = field(default_factory=OptimizerConfig)
    critic_opt: OptimizerConfig = field(default_factory=OptimizerConfig)
    iterations: int = 5000  # training iterations (each: n_critic critic + n_gen generator steps)
    batch_size: int = 256
    log_every: int = 250
    diagnostics: DiagnosticsConfig = field(default_factory=DiagnosticsConfig)  # thresholds of the live detectors


def recipe_names(directory: Path | None = None) -> list[str]:
    return runs.recipe_names(directory or recipe_dir())


def load_recipe(name: str, directory: Path | None = None) -> ToyRecipe:
    """The recipe called ``name`` (a file in ``configs/toy/``) or a path to a YAML file."""
    return runs.load_recipe(name, directory or recipe_dir(), ToyRecipe)


def _batches(mixture: Mixture, recipe: ToyRecipe, gen: torch.Generator) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    while True:
        z = torch.randn(recipe.batch_size, recipe.model.z_dim, generator=gen)
        yield z, mixture.sample(recipe.batch_size, gen) / mixture.scale


def build(recipe: ToyRecipe, device: str | torch.device = "cpu") -> AdversarialTrainer:
    """The recipe's networks on ``device`` (moved before their optimizers are made: Adam is fused there)."""
    generator, critic = MLPGenerator(recipe.model), MLPCritic(recipe.model)
    if recipe.model.critic_norm == "spectral":
        apply_spectral_norm(critic)  # also covers the minibatch layer's neighbours
    generator, critic = generator.to(device), critic.to(device)
    g_opt = make_optimizer(generator.parameters(), recipe.generator_opt)
    c_opt = make_optimizer(critic.parameters(), recipe.critic_opt)
    schedulers = {"generator": make_scheduler(g_opt, recipe.generator_opt),
                  "critic": make_scheduler(c_opt, recipe.critic_opt)}
    return AdversarialTrainer(generator, critic, g_opt, c_opt, recipe.adversarial, schedulers=schedulers,
                              device=device)


@contextmanager
def flush_denormals() -> Iterator[None]:
    """Subnormal floats read and written as zero inside the block (x86 FTZ/DAZ; a no-op where unsupported).

    Late in a run, with the learning rates decayed towards 0, gradients and Adam's moment estimates drift
    into the subnormal range (below 1.2e-38), where the CPU's float arithmetic is many times slower: on
    the development machine flushing took a 20,000-iteration grid run from 176 to 164 s, with identical
    scores. Only values that small change. Restored to the default (off) on exit.
    """
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(False)


@torch.no_grad()
def generate(trainer: AdversarialTrainer, mixture: Mixture, n: int, z_dim: int, seed: int) -> np.ndarray:
    """``n`` samples ``(n, 2)`` in data coordinates from the evaluation generator (EMA when there is one).

    Batch norm normalises with the statistics of the ``n`` samples themselves (train mode, on a copy, so
    the trained model and its running statistics are untouched), the same normalisation the generator
    was trained with. The running statistics are not used because they lag the weights (an average
    over past steps) and, for an EMA generator, belong to the live weights rather than the averaged
    ones; either shift the clusters off the modes at the precision this benchmark scores. The noise is
    i.i.d., so with ``n = 2500`` the batch statistics are the population ones to within sampling error.
    The same rule applies to every recipe; a generator without batch norm is unaffected. The noise is drawn
    on the CPU wherever the generator is, so a seed gives the same noise on every device.
    """
    model = copy.deepcopy(trainer.eval_generator()).train()
    z = torch.randn(n, z_dim, generator=torch.Generator().manual_seed(seed + 10_000)).to(trainer.device)
    return (model(z) * mixture.scale).cpu().numpy().astype(np.float32)


def train_toy(data: str, recipe_name: str, seed: int, out: Path,
              progress: Callable[[int, int], None] | None = None, iterations: int | None = None,
              snapshot: Callable[[int, int, np.ndarray], None] | None = None,
              device: str | torch.device = "cpu") -> dict:
    """Train ``recipe_name`` on ``data`` with ``seed``; write results into ``out``; return the metrics.

    ``iterations`` overrides the recipe's count (smoke tests); the written config shows the override.
    ``snapshot(iteration, total, samples)``, at every log point (``log_every``), gets the evaluation
    generator's samples ``(N_EVAL_SAMPLES, 2)`` at that iteration (:func:`generate`: fixed noise, so the
    frames of a run are comparable; no global random state is drawn, so the run is the same with or
    without it): what ``audiogan demo`` draws as the run trains. An exception it raises stops the run.
    ``device``: where the networks train (batches are drawn on the CPU and moved there; bf16 autocast on
    CUDA, see :class:`~audiogan.gan.AdversarialConfig`).
    """
    mixture = get_mixture(data)
    recipe = load_recipe(recipe_name)
    if iterations is not None:
        recipe = recipe.model_copy(update={"iterations": iterations})
    out = make_folder(out)
    atomic_write_text(out / "config.yaml", dump_yaml(recipe))
    torch.manual_seed(seed)
    np.random.seed(seed)
    trainer = build(recipe, device)
    return run_toy(trainer, recipe, mixture, data, recipe_name, seed, out, progress, snapshot)


def run_toy(trainer: AdversarialTrainer, recipe: ToyRecipe, mixture, data: str, recipe_name: str | Path, seed: int,
            out: Path, progress: Callable[[int, int], None] | None = None,
            snapshot: Callable[[int, int, np.ndarray], None] | None = None) -> dict:
    """Train ``trainer`` for the recipe's iterations on ``mixture`` (batches seeded by ``seed``), watched by
    the detectors; write samples, log, plot and metrics into ``out``; return the metrics (the loop of
    :func:`train_toy`, shared with the stability ablation's deep recipes)."""
    batches = _batches(mixture, recipe, torch.Generator().manual_seed(seed))
    monitor = Monitor(recipe.diagnostics, recipe.adversarial, run=out)
    log_lines = []
    start = time.perf_counter()
    with flush_denormals():
        for it in range(recipe.iterations):
            stats = trainer.train_iteration(batches)
            monitor.after_iteration(trainer, stats)
            if (it + 1) % recipe.log_every == 0 or it + 1 == recipe.iterations:
                log_lines.append(json.dumps({"iteration": it + 1, **{k: round(v, 6) for k, v in stats.items()}}))
                if progress:
                    progress(it + 1, recipe.iterations)
                if snapshot:
                    snapshot(it + 1, recipe.iterations, generate(trainer, mixture, N_EVAL_SAMPLES, recipe.model.z_dim,
                                                                 seed))
    wall = time.perf_counter() - start
    samples = generate(trainer, mixture, N_EVAL_SAMPLES, recipe.model.z_dim, seed)
    metrics = {"data": data, "recipe": Path(recipe_name).stem, "seed": seed, **score(samples, mixture),
               "wall_s": round(wall, 2), "threads": torch.get_num_threads(), "iterations": recipe.iterations,
               "skipped_steps": trainer.skipped, "events": monitor.summary()}
    atomic_write(out / "samples.npy", lambda tmp: np.save(open(tmp, "wb"), samples))
    atomic_write_text(out / "train.log", "\n".join(log_lines) + "\n")
    from .plots import plot_samples  # matplotlib only when writing figures

    plot_samples(out / "samples.png", samples, mixture, title=f"{metrics['recipe']} on {data}, seed {seed}")
    atomic_write_text(out / "metrics.json", json.dumps(metrics, indent=2))
    return metrics
