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


@app.command()
def train(
    config: Path = typer.Argument(..., help="training config (YAML), e.g. configs/debug.yaml"),
    out_dir: Path = typer.Option(..., "--out", help="run folder (checkpoints, logs, TensorBoard)"),
    resume: bool = typer.Option(False, "--resume", help="continue the run in --out from its latest checkpoint"),
    device: str = typer.Option("auto", help="auto | cpu | cuda | cuda:N"),
    stop_after: Optional[int] = typer.Option(None, help="stop after this many iterations in total (resumable)"),
) -> None:
    """Train the enhancer (or resume a stopped run exactly where it was)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from .audio.train import AudioTrainConfig, train as train_run
    from .config import load_config

    with user_errors():
        cfg = load_config(config, AudioTrainConfig)
        columns = (TextColumn("[bold]train"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                   TextColumn("{task.fields[info]}"), TimeRemainingColumn())
        with Progress(*columns, console=err) as bar:
            task = bar.add_task("train", total=cfg.steps, info="")

            def progress(step: int, total: int, stats: dict) -> None:
                info = " ".join(f"{k.split('/')[-1]}={stats[k]:.3g}" for k in ("loss/recon", "critic/gap") if k in stats)
                bar.update(task, completed=step, info=info)

            stats = train_run(cfg, out_dir, resume=resume, device=device, progress=progress, stop_after=stop_after)
    out.print(f"run {out_dir}: " + ", ".join(f"{k} {v:.4g}" for k, v in stats.items()
                                            if k in ("loss/recon", "loss/adv", "critic/gap", "guard/skipped")))


@app.command()
def export(
    run: Path = typer.Argument(..., help="a training run folder"),
    model_dir: Path = typer.Argument(..., help="model folder to write (config.yaml, model.safetensors, README.md)"),
    name: Optional[str] = typer.Option(None, help="model name (default: the folder name)"),
) -> None:
    """Export a run's latest EMA generator as a model folder that loads with no pickle."""
    from .audio.export import export_model

    with user_errors():
        folder = export_model(run, model_dir, name)
    out.print(f"exported {folder}")


@app.command()
def enhance(
    source: Path = typer.Argument(..., help="input audio file"),
    output: Path = typer.Option(..., "-o", "--output", help="output file"),
    model: Optional[Path] = typer.Option(None, help="model folder (default: the shipped default model)"),
    device: str = typer.Option("auto", help="auto | cpu | cuda"),
    batch_size: int = typer.Option(4, help="chunks per forward pass"),
) -> None:
    """Enhance speech in an audio file; the output keeps the input's rate, channels, format and bit depth."""
    from .audio.enhance import Enhancer, enhance_file
    from .audio.train import resolve_device

    with user_errors():
        enhancer = Enhancer.from_pretrained(model, device=resolve_device(device))
        enhance_file(enhancer, source, output, batch_size=batch_size)
    out.print(f"wrote {output}")


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
