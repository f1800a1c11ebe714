"""The enhancer's commands: ``train``, ``export``, ``enhance``, ``evaluate``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..errors import UserError
from .common import err, out, report_rows, user_errors


def register(app: typer.Typer) -> None:
    """Add the enhancer's commands to ``app``."""
    for command in (train, export, enhance, evaluate):
        app.command()(command)


def train(
    config: Path = typer.Argument(..., help="training config (YAML), e.g. configs/debug.yaml"),
    out_dir: Path = typer.Option(..., "--out", help="run folder (checkpoints, logs, TensorBoard)"),
    resume: bool = typer.Option(False, "--resume", help="continue the run in --out from its latest checkpoint"),
    device: str = typer.Option("auto", help="auto | cpu | cuda | cuda:N"),
    stop_after: Optional[int] = typer.Option(None, help="stop after this many iterations in total (resumable)"),
    init: Optional[Path] = typer.Option(None, "--init", help="warm-start a new run's networks from a model folder "
                                        "or a run folder (every tensor that matches; the rest are listed)"),
) -> None:
    """Train the enhancer (or resume a stopped run exactly where it was)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from ..audio.train import AudioTrainConfig, train as train_run
    from ..config import load_config

    with user_errors():
        cfg = load_config(config, AudioTrainConfig)
        columns = (TextColumn("[bold]train"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                   TextColumn("{task.fields[info]}"), TimeRemainingColumn())
        with Progress(*columns, console=err) as bar:
            task = bar.add_task("train", total=cfg.steps, info="")

            def progress(step: int, total: int, stats: dict) -> None:
                info = " ".join(f"{k.split('/')[-1]}={stats[k]:.3g}" for k in ("loss/recon", "critic/gap") if k in stats)
                bar.update(task, completed=step, info=info)

            stats = train_run(cfg, out_dir, resume=resume, device=device, progress=progress, stop_after=stop_after,
                             init=init)
    out.print(f"run {out_dir}: " + ", ".join(f"{k} {v:.4g}" for k, v in stats.items()
                                            if k in ("loss/recon", "loss/adv", "critic/gap", "guard/skipped")))


def export(
    run: Path = typer.Argument(..., help="a training run folder"),
    model_dir: Path = typer.Argument(..., help="model folder to write (config.yaml, model.safetensors, README.md)"),
    name: Optional[str] = typer.Option(None, help="model name (default: the folder name)"),
    notes: Optional[Path] = typer.Option(None, help="markdown file appended to the model card (e.g. evaluation)"),
) -> None:
    """Export a run's latest EMA generator as a model folder that loads with no pickle."""
    from ..audio.export import export_model

    with user_errors():
        folder = export_model(run, model_dir, name, notes.read_text() if notes else "")
    out.print(f"exported {folder}")


def enhance(
    source: Path = typer.Argument(..., help="input audio file, or a folder (recursive)"),
    output: Path = typer.Option(..., "-o", "--output", help="output file, or folder mirroring the input tree"),
    model: Optional[Path] = typer.Option(None, help="model folder or shipped model name (default: the default model)"),
    device: str = typer.Option("auto", help="auto | cpu | cuda"),
    batch_size: int = typer.Option(4, help="chunks per forward pass (raise it on a GPU)"),
    workers: int = typer.Option(1, help="files processed at once (folders)"),
) -> None:
    """Enhance speech in a file or a folder; outputs keep rate, channels, format and bit depth.

    For a folder, finished outputs are skipped (a stopped run resumes), bad files are reported and
    skipped, and OUTPUT/enhance_report.tsv lists every input with ok / skipped / failed and the reason.
    """
    from ..audio.enhance.enhancer import Enhancer
    from ..audio.enhance.stream import enhance_file
    from ..runtime import resolve_device

    with user_errors():
        enhancer = Enhancer.from_pretrained(model, device=resolve_device(device))
        if source.is_dir():
            from rich.progress import Progress

            from ..audio.enhance.folder import enhance_folder

            with Progress(console=err, transient=True) as bar:
                task = bar.add_task("enhancing", total=None)
                report = enhance_folder(enhancer, source, output, batch_size, workers,
                                        progress=lambda rel, status: bar.advance(task))
            report_rows("failed", ((rel, detail) for rel, (status, detail) in sorted(report.rows.items())
                                   if status == "failed"))
            out.print(f"{output}: {report.summary()} (report: {output / 'enhance_report.tsv'})")
            if report.count("failed"):
                raise typer.Exit(1)
            return
        enhance_file(enhancer, source, output, batch_size=batch_size)
    out.print(f"wrote {output}")


def evaluate(
    clean: Path = typer.Option(..., help="folder of clean references"),
    test: Path = typer.Option(..., help="folder of degraded inputs (group sub-folders allowed: noise/x.wav)"),
    enhanced: Optional[Path] = typer.Option(None, help="folder of enhanced outputs, same tree as --test"),
    extra: Optional[list[str]] = typer.Option(None, help="more systems to compare, as NAME=FOLDER"),
    plot: Optional[Path] = typer.Option(None, help="write spectrogram comparisons (PNG) here"),
    json_out: Optional[Path] = typer.Option(None, "--json", help="also write the table as JSON"),
) -> None:
    """Tabulate PESQ (wideband), STOI, SI-SDR, log-spectral distance and DNSMOS (when speechmos is
    installed) for the input and the enhanced output, with deltas, per group and overall."""
    from rich.progress import Progress

    from ..audio.evaluate.report import evaluate_folders, format_evaluation
    from ..checkpoint import atomic_write_text

    systems = {"input": test}
    if enhanced is not None:
        systems["enhanced"] = enhanced
    with user_errors():
        for item in extra or []:
            name, _, folder = item.partition("=")
            if not folder:
                raise UserError(f"--extra takes NAME=FOLDER, got {item!r}")
            systems[name] = Path(folder)
        for name, folder in [("clean", clean), *systems.items()]:
            if not folder.is_dir():
                raise UserError(f"{folder}: not a folder ({name})")
        with Progress(console=err, transient=True) as bar:
            task = bar.add_task("scoring", total=None)
            ev = evaluate_folders(clean, systems, plot_dir=plot,
                                  progress=lambda i, n: bar.update(task, completed=i, total=n))
        if json_out:
            atomic_write_text(json_out, ev.to_json())
    typer.echo(format_evaluation(ev))  # plain: a markdown table must not be re-wrapped
    report_rows("failed", ev.failures.items())
