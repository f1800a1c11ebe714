"""The ``audiogan`` command line: thin commands over library functions.

Errors a user can cause (a bad name, a missing file, a bad config) print one line on stderr and exit
with a non-zero code; they never show a traceback.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

import typer
from rich.console import Console

from . import __version__
from .config import ConfigError

app = typer.Typer(help="audiogan: GANs that enhance speech, and the GAN stability remedies they stand on.",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
toy_app = typer.Typer(help="The 2-D mode-coverage benchmark (ring and grid mixtures).", no_args_is_help=True)
app.add_typer(toy_app, name="toy")

err = Console(stderr=True)
out = Console()


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn the errors a user can cause into one line and exit code 2 (1 for I/O failures)."""
    try:
        yield
    except (ConfigError, ValueError, KeyError) as e:
        err.print(f"[red]error:[/red] {e}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    except (OSError, RuntimeError) as e:
        err.print(f"[red]error:[/red] {e}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        err.print("interrupted")
        raise typer.Exit(130) from None


@app.command()
def version() -> None:
    """Print the audiogan version."""
    out.print(__version__)


@toy_app.command("train")
def toy_train(
    data: str = typer.Option(..., help="ring | grid"),
    recipe: str = typer.Option(..., help="a recipe name from configs/toy/ (or a YAML path)"),
    seed: int = typer.Option(1, help="random seed"),
    out_dir: Path = typer.Option(..., "--out", help="folder for samples.npy, metrics.json, samples.png, log"),
) -> None:
    """Train one recipe on one 2-D mixture and score 2,500 samples from its final generator."""
    from rich.progress import Progress

    from .toy.train import train_toy

    with user_errors(), Progress(transient=True, console=err) as bar:
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
    workers: int = typer.Option(2, help="parallel training processes (one CPU thread each)"),
) -> None:
    """Run every recipe over seeds 1..N and write mean/std tables and a panel of samples per recipe.

    Finished runs are kept and skipped, so a stopped ablation resumes where it was.
    """
    from rich.progress import Progress

    from .toy.ablate import ablate, format_table

    names = [r.strip() for r in recipes.split(",")] if recipes else None
    with user_errors(), Progress(console=err) as bar:
        task = bar.add_task(f"ablation on {data}", total=None)
        table = ablate(data, seeds, out_dir, names, workers, on_done=lambda m: bar.advance(task))
    out.print(format_table(data, seeds, table))


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
