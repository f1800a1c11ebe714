"""Train one recipe on digits or stacked digits; write samples, metrics, a grid, the config, the log and
the generator (``generator/``: ``config.yaml`` + ``model.safetensors``, for ``audiogan image sample``)."""

from __future__ import annotations

import copy
import json
import time
from dataclasses import field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import pydantic
import torch

from ..checkpoint import atomic_write, atomic_write_text, load_weights, make_folder, save_weights
from ..config import dump_yaml, load_config, parse_config, to_dict
from ..errors import ConfigError
from ..gan import (AdversarialConfig, AdversarialTrainer, DiagnosticsConfig, Monitor, OptimizerConfig, make_optimizer,
                   make_scheduler)
from .. import runs
from ..resources import configs_dir
from .data import ImageData, get_data
from .model import DCGANCritic, DCGANGenerator, ImageModelConfig
from .scorer import DigitScorer

GENERATOR_DIR = "generator"
SAMPLE_CHUNK = 1000  # samples per generator call: batch-norm statistics over 1,000 i.i.d. draws


def recipe_dir() -> Path:
    """The shipped recipes (``configs/image/``)."""
    return configs_dir() / "image"


class ImageRecipe(pydantic.BaseModel):
    """One training method. Every recipe shares ``model`` sizes; only the method differs."""

    model_config = pydantic.ConfigDict(extra="forbid")

    description: str = ""
    model: ImageModelConfig = field(default_factory=ImageModelConfig)
    adversarial: AdversarialConfig = field(default_factory=AdversarialConfig)
    generator_opt: OptimizerConfig = field(default_factory=OptimizerConfig)
    critic_opt: OptimizerConfig = field(default_factory=OptimizerConfig)
    iterations: int = 2000  # training iterations (each: n_critic critic + n_gen generator steps)
    batch_size: int = 64
    log_every: int = 100
    diagnostics: DiagnosticsConfig = field(default_factory=DiagnosticsConfig)  # thresholds of the live detectors


def check_recipe(recipe: ImageRecipe, source: str) -> ImageRecipe:
    """Refuse combinations the networks cannot train with, naming the keys."""
    m, adv = recipe.model, recipe.adversarial
    if m.critic_norm == "batch" and (adv.weights.gp or adv.weights.r1):
        raise ConfigError(f"{source}: model.critic_norm 'batch' with a gradient penalty (loss/gp, loss/r1): "
                          "the penalty is per sample and batch norm mixes the samples; use none or spectral")
    if recipe.batch_size % m.pack or adv.fargan_count % m.pack:
        raise ConfigError(f"{source}: batch_size ({recipe.batch_size}) and adversarial.fargan_count "
                          f"({adv.fargan_count}) must be multiples of model.pack ({m.pack})")
    if m.minibatch_std_group and ((recipe.batch_size // m.pack) % m.minibatch_std_group or adv.fargan_count):
        raise ConfigError(f"{source}: model.minibatch_std_group ({m.minibatch_std_group}) must divide the packs "
                          "of a batch (batch_size / model.pack), and cannot be used with adversarial.fargan_count")
    return recipe


def recipe_names(directory: Path | None = None) -> list[str]:
    return runs.recipe_names(directory or recipe_dir())


def load_recipe(name: str, directory: Path | None = None) -> ImageRecipe:
    """The recipe called ``name`` (a file in ``configs/image/``) or a path to a YAML file."""
    return check_recipe(runs.load_recipe(name, directory or recipe_dir(), ImageRecipe), name)


def _merge(base: dict, update: dict) -> dict:
    out = dict(base)
    for k, v in update.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def resolve(recipe: ImageRecipe, data: ImageData, overrides: dict[str, Any] | None = None) -> ImageRecipe:
    """``recipe`` for ``data`` (the model's channels), with ``overrides`` (nested keys, e.g.
    ``{"iterations": 2, "model": {"critic_width": 4}}``) merged in and validated."""
    merged = _merge(_merge(to_dict(recipe), overrides or {}), {"model": {"channels": data.channels}})
    return check_recipe(parse_config(merged, ImageRecipe, "overrides"), "overrides")


def _batches(data: ImageData, recipe: ImageRecipe, gen: torch.Generator) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    while True:
        z = torch.randn(recipe.batch_size, recipe.model.z_dim, generator=gen)
        yield z, data.sample(recipe.batch_size, gen)


def build(recipe: ImageRecipe, device: str | torch.device = "cpu") -> AdversarialTrainer:
    """The recipe's networks on ``device`` (moved before their optimizers are made: Adam is fused there)."""
    generator, critic = DCGANGenerator(recipe.model).to(device), DCGANCritic(recipe.model).to(device)
    g_opt = make_optimizer(generator.parameters(), recipe.generator_opt)
    c_opt = make_optimizer(critic.parameters(), recipe.critic_opt)
    schedulers = {"generator": make_scheduler(g_opt, recipe.generator_opt),
                  "critic": make_scheduler(c_opt, recipe.critic_opt)}
    return AdversarialTrainer(generator, critic, g_opt, c_opt, recipe.adversarial, schedulers=schedulers,
                              device=device)


@torch.no_grad()
def generate(generator: torch.nn.Module, n: int, z_dim: int, seed: int) -> np.ndarray:
    """``n`` samples ``(n, C, 32, 32)`` float32 in [-1, 1], drawn in chunks of :data:`SAMPLE_CHUNK`.

    Batch norm normalises with each chunk's own statistics (train mode, on a copy: the model and its
    running statistics are untouched), as in training; running statistics lag the weights and, for an EMA
    generator, belong to the live weights rather than the averaged ones (see the 2-D benchmark). The noise
    is drawn on the CPU wherever the generator is, so a seed gives the same noise on every device.
    """
    model = copy.deepcopy(generator).train()
    device = next(model.parameters()).device
    gen = torch.Generator().manual_seed(seed + 10_000)
    chunks = [model(torch.randn(min(SAMPLE_CHUNK, n - i), z_dim, generator=gen).to(device))
              for i in range(0, n, SAMPLE_CHUNK)]
    return torch.cat(chunks).clamp_(-1.0, 1.0).cpu().numpy().astype(np.float32)


def export_generator(folder: Path, generator: torch.nn.Module, model: ImageModelConfig) -> None:
    """``folder/config.yaml`` (the model config) and ``folder/model.safetensors`` (weights only)."""
    folder.mkdir(parents=True, exist_ok=True)
    save_weights(folder / "model.safetensors", generator.state_dict())
    atomic_write_text(folder / "config.yaml", dump_yaml(model))


def load_generator(folder: Path) -> tuple[DCGANGenerator, ImageModelConfig]:
    """The generator exported by :func:`export_generator` (strict load; nothing is unpickled)."""
    folder = Path(folder)
    if not (folder / "model.safetensors").is_file():
        raise ConfigError(f"{folder}: not a generator folder (no model.safetensors)")
    model = load_config(folder / "config.yaml", ImageModelConfig)
    generator = DCGANGenerator(model)
    generator.load_state_dict(load_weights(folder / "model.safetensors"), strict=True)
    return generator.eval(), model


def train_image(data_name: str, recipe_name: str, seed: int, out: Path,
                progress: Callable[[int, int], None] | None = None, overrides: dict[str, Any] | None = None,
                n_samples: int | None = None, scorer: DigitScorer | None = None,
                device: str | torch.device = "cpu") -> dict:
    """Train ``recipe_name`` on ``data_name`` with ``seed``; write results into ``out``; return the metrics.

    ``overrides`` changes recipe keys (smoke tests: iterations, widths); the written config shows them.
    ``n_samples`` overrides the number scored (10,000 digits, 26,000 stacked); ``scorer`` defaults to the
    cached classifier (trained on first use). ``device``: where the networks train (batches are drawn on the
    CPU and moved there; bf16 autocast on CUDA, see :class:`~audiogan.gan.AdversarialConfig`).
    """
    data = get_data(data_name)
    recipe = resolve(load_recipe(recipe_name), data, overrides)
    scorer = scorer or DigitScorer.load_or_train()
    out = make_folder(out)
    atomic_write_text(out / "config.yaml", dump_yaml(recipe))
    torch.manual_seed(seed)
    np.random.seed(seed)
    trainer = build(recipe, device)
    batches = _batches(data, recipe, torch.Generator().manual_seed(seed))
    monitor = Monitor(recipe.diagnostics, recipe.adversarial, run=out)
    log_lines = []
    start = time.perf_counter()
    for it in range(recipe.iterations):
        stats = trainer.train_iteration(batches)
        monitor.after_iteration(trainer, stats)
        if (it + 1) % recipe.log_every == 0 or it + 1 == recipe.iterations:
            log_lines.append(json.dumps({"iteration": it + 1, **{k: round(v, 6) for k, v in stats.items()}}))
            atomic_write_text(out / "train.log", "\n".join(log_lines) + "\n")
            if progress:
                progress(it + 1, recipe.iterations)
    wall = time.perf_counter() - start
    samples = generate(trainer.eval_generator(), n_samples or data.n_eval, recipe.model.z_dim, seed)
    metrics = {"data": data_name, "recipe": Path(recipe_name).stem, "seed": seed, "n_samples": len(samples),
               **scorer.score(samples), "wall_s": round(wall, 2), "threads": torch.get_num_threads(),
               "iterations": recipe.iterations, "skipped_steps": trainer.skipped, "events": monitor.summary()}
    atomic_write(out / "samples.npy", lambda tmp: np.save(open(tmp, "wb"), samples))
    atomic_write_text(out / "train.log", "\n".join(log_lines) + "\n")
    export_generator(out / GENERATOR_DIR, trainer.eval_generator(), recipe.model)
    from .plots import plot_grid  # matplotlib only when writing figures

    plot_grid(out / "samples.png", samples[:64], title=f"{metrics['recipe']} on {data_name}, seed {seed}: "
              f"{metrics['modes']} modes, KL {metrics['kl']:.2f}")
    atomic_write_text(out / "metrics.json", json.dumps(metrics, indent=2))
    return metrics
