"""``audiogan image``: DCGAN variants on real handwritten digits, scored for mode coverage."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .common import FullShortHelp, err, out, refuse_finished_run, transient_progress, user_errors

image_app = typer.Typer(help="Image DCGANs on real handwritten digits (10 modes) and stacked digits (1,000 modes).",
                        no_args_is_help=True, rich_markup_mode=None, cls=FullShortHelp)


@image_app.command("train")
def image_train(
    data: str = typer.Option(..., help="digits | stacked"),
    recipe: str = typer.Option(..., help="a recipe name from configs/image/ (or a YAML path)"),
    seed: int = typer.Option(1, help="random seed"),
    out_dir: Path = typer.Option(..., "--out", help="folder for samples.npy, metrics.json, samples.png, log, generator/"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace a finished run in --out"),
) -> None:
    """Train one recipe and score samples of its final generator (10,000 digits or 26,000 stacked)."""
    from ..image.train import train_image

    with user_errors(), transient_progress() as bar:
        refuse_finished_run(out_dir, overwrite)
        task = bar.add_task(f"{recipe} on {data}", total=None)
        metrics = train_image(data, recipe, seed, out_dir, progress=lambda i, n: bar.update(task, completed=i, total=n))
    out.print(f"{metrics['recipe']} on {data}, seed {seed}: {metrics['modes']} modes, KL {metrics['kl']:.3f}, "
              f"confidence {100 * metrics['confidence']:.1f}%, {metrics['wall_s']:.0f} s")


@image_app.command("sample")
def image_sample(
    model_dir: Path = typer.Argument(..., help="a generator folder (RUN/generator: config.yaml + model.safetensors)"),
    n: int = typer.Option(64, "--n", min=1, help="how many samples"),
    output: Path = typer.Option(..., "-o", "--output", help="the PNG grid to write"),
    seed: int = typer.Option(0, help="noise seed"),
) -> None:
    """Draw samples from an exported generator and save them as a grid."""
    from ..image.plots import plot_grid
    from ..image.train import generate, load_generator

    with user_errors():
        generator, config = load_generator(model_dir)
        plot_grid(output, generate(generator, n, config.z_dim, seed))
    out.print(f"wrote {n} samples to {output}")


@image_app.command("ablate")
def image_ablate(
    data: str = typer.Option(..., help="digits | stacked"),
    seeds: int = typer.Option(3, min=1, help="run seeds 1..SEEDS"),
    out_dir: Path = typer.Option(..., "--out", help="folder for runs/, table.md, table.json, panels.png"),
    recipes: Optional[str] = typer.Option(None, help="comma-separated subset of recipes (default: all)"),
    workers: int = typer.Option(2, min=1, help="parallel training processes; the CPU cores are split among them"),
) -> None:
    """Run every recipe over seeds 1..N and write mean/std tables and a grid of samples per recipe.

    Finished runs are kept and skipped, so a stopped ablation resumes where it was.
    """
    from rich.progress import Progress

    from ..image.ablate import ablate, check_names, format_table
    from ..image.data import get_data

    names = [r.strip() for r in recipes.split(",")] if recipes else None
    with user_errors():  # bad names fail in one line, before any progress bar is drawn
        get_data(data)
        check_names(names)
    with user_errors(), Progress(console=err) as bar:
        task = bar.add_task(f"ablation on {data}", total=None)
        table = ablate(data, seeds, out_dir, names, workers, on_done=lambda m: bar.advance(task))
    typer.echo(format_table(data, seeds, table))


@image_app.command("classifier")
def image_classifier() -> None:
    """Train (or load from the cache) the digit classifier of the scorer and print its held-out accuracy."""
    from ..image.scorer import DigitScorer, cache_dir

    with user_errors():
        scorer = DigitScorer.load_or_train()
    out.print(f"digit classifier: {100 * scorer.accuracy:.1f}% on the held-out 20 % of the real digits (cached in {cache_dir()})")
