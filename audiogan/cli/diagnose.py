"""``audiogan diagnose`` (a run's instability report) and ``audiogan ablate-stability`` (each failure, its
detector and its remedies)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .common import err, out, user_errors


def register(app: typer.Typer) -> None:
    """Add the diagnostics commands to ``app``."""
    app.command("diagnose")(diagnose)
    app.command("ablate-stability")(ablate_stability)


def diagnose(
    run: Path = typer.Argument(..., help="a run folder (audio, image or 2-D) with diagnostics.jsonl"),
) -> None:
    """Summarise a run's instability events and plot what the detectors watched into RUN/plots/: losses,
    critic scores and weight norms, gradient norm per layer group (a heat map) and batch diversity."""
    from ..diagnose import plot, summary

    with user_errors():
        text = summary(run)
        paths = plot(run)
    out.print(text, highlight=False, markup=False)
    out.print(f"plots: {', '.join(str(p) for p in paths)}", highlight=False, markup=False)


def ablate_stability(
    out_dir: Path = typer.Option(..., "--out", help="folder for runs/, table.md, table.json"),
    seeds: int = typer.Option(3, min=1, help="run seeds 1..SEEDS"),
    failures: Optional[str] = typer.Option(None, help="comma-separated failure recipes (default: all six)"),
    workers: int = typer.Option(1, min=1, help="parallel training processes; the CPU cores are split among them"),
) -> None:
    """Train each failure of GAN training and its remedies on small problems (2-D ring, digits) over seeds
    1..N, and tabulate whether the failure's detector fires in every failure run and in no remedy run.

    Finished runs are kept and skipped, so a stopped ablation resumes where it was.
    """
    from rich.progress import Progress

    from ..stability import ablate_stability as run_ablation, check_names, format_table

    names = [f.strip() for f in failures.split(",")] if failures else None
    with user_errors():  # a bad name fails in one line, before any progress bar is drawn
        check_names(names)
    with user_errors(), Progress(console=err) as bar:
        task = bar.add_task("stability ablation", total=None)
        table = run_ablation(out_dir, seeds, names, workers, on_done=lambda m: bar.advance(task))
    typer.echo(format_table(table))
