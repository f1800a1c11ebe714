"""``audiogan toy``: the 2-D mode-coverage benchmark."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .common import FullShortHelp, err, out, refuse_finished_run, transient_progress, user_errors

toy_app = typer.Typer(help="The 2-D mode-coverage benchmark (ring and grid mixtures).", no_args_is_help=True,
                      rich_markup_mode=None, cls=FullShortHelp)


@toy_app.command("train")
def toy_train(
    data: str = typer.Option(..., help="ring | grid"),
    recipe: str = typer.Option(..., help="a recipe name from configs/toy/ (or a YAML path)"),
    seed: int = typer.Option(1, help="random seed"),
    out_dir: Path = typer.Option(..., "--out", help="folder for samples.npy, metrics.json, samples.png, log"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace a finished run in --out"),
) -> None:
    """Train one recipe on one 2-D mixture and score 2,500 samples from its final generator."""
    from ..toy.train import train_toy

    with user_errors(), transient_progress() as bar:
        refuse_finished_run(out_dir, overwrite)
        task = bar.add_task(f"{recipe} on {data}", total=None)
        metrics = train_toy(data, recipe, seed, out_dir,
                            progress=lambda i, n: bar.update(task, completed=i, total=n))
    out.print(f"{metrics['recipe']} on {data}, seed {seed}: {metrics['modes']} modes, "
              f"{100 * metrics['hq']:.1f}% HQ, reverse KL {metrics['reverse_kl']:.3f}, {metrics['wall_s']:.0f} s")


@toy_app.command("ablate")
def toy_ablate(
    data: str = typer.Option(..., help="ring | grid"),
    seeds: int = typer.Option(10, help="run seeds 1..SEEDS"),
    out_dir: Path = typer.Option(..., "--out", help="folder for runs/, table.md, table.json, panels.png"),
    recipes: Optional[str] = typer.Option(None, help="comma-separated subset of recipes (default: all)"),
    workers: int = typer.Option(2, help="parallel training processes; the CPU cores are split among them"),
) -> None:
    """Run every recipe over seeds 1..N and write mean/std tables and a panel of samples per recipe.

    Finished runs are kept and skipped, so a stopped ablation resumes where it was.
    """
    from rich.progress import Progress

    from ..toy.ablate import ablate, format_table

    names = [r.strip() for r in recipes.split(",")] if recipes else None
    with user_errors(), Progress(console=err) as bar:
        task = bar.add_task(f"ablation on {data}", total=None)
        table = ablate(data, seeds, out_dir, names, workers, on_done=lambda m: bar.advance(task))
    typer.echo(format_table(data, seeds, table))
