"""The enhancer's commands: ``train``, ``export``, ``enhance``, ``evaluate``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer

from ..errors import ConfigError, UserError
from .common import EXIT_BUG, EXIT_SYSTEM, EXIT_USER, err, out, report_rows, transient_progress, user_errors


def register(app: typer.Typer) -> None:
    """Add the enhancer's commands to ``app``."""
    for command in (train, export, enhance, evaluate):
        app.command()(command)


def train(
    config: Path = typer.Argument(..., help="training config (YAML), e.g. configs/debug.yaml"),
    out_dir: Path = typer.Option(..., "--out", help="run folder (checkpoints, logs, TensorBoard)"),
    resume: bool = typer.Option(False, "--resume", help="continue the run in --out from its latest checkpoint"),
    device: str = typer.Option("auto", help="auto | cpu | cuda | cuda:N"),
    stop_after: Optional[int] = typer.Option(None, min=1, help="stop after this many iterations in total "
                                             "(resumable)"),
    init: Optional[Path] = typer.Option(None, "--init", help="warm-start a new run's networks from a model folder "
                                        "(or a shipped model's name) or a run folder (every tensor that matches; "
                                        "the rest are listed)"),
) -> None:
    """Train the enhancer (or resume a stopped run exactly where it was).

    A run stopped by --stop-after or Ctrl-C continues with --resume; resuming a finished run with a higher
    steps in its config extends it (steps is the one config change a resumed run accepts).
    """
    from contextlib import ExitStack

    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from ..audio.train import AudioTrainConfig, train as train_run
    from ..config import load_config

    columns = (TextColumn("[bold]train"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
               TextColumn("{task.fields[info]}"), TimeRemainingColumn())
    bar = Progress(*columns, console=err)
    where: dict[str, int] = {}  # the step the run started at, and the last one reported

    with user_errors(), ExitStack() as shown:
        cfg = load_config(config, AudioTrainConfig)

        def progress(step: int, total: int, stats: dict) -> None:
            if "start" not in where:  # the bar appears once training starts, at the step it starts from
                shown.enter_context(bar)
                where["start"] = step
                bar.add_task("train", total=total, completed=step, info="")
            where["step"] = step
            info = " ".join(f"{k.split('/')[-1]}={stats[k]:.3g}" for k in ("loss/recon", "critic/gap") if k in stats)
            bar.update(bar.task_ids[0], completed=step, total=total, info=info)

        try:
            stats = train_run(cfg, out_dir, resume=resume, device=device, progress=progress, stop_after=stop_after,
                              init=init)
        except KeyboardInterrupt:
            if where.get("step", cfg.steps) < cfg.steps:
                err.print(f"stopped at {where['step']}/{cfg.steps}: continue with --resume", highlight=False)
            raise
    if int(os.environ.get("RANK", "0")) != 0:
        return  # under torchrun rank 0 speaks for the run
    step = where.get("step", 0)
    if stats:
        out.print(f"run {out_dir}: " + ", ".join(f"{k} {v:.4g}" for k, v in stats.items()
                                                if k in ("loss/recon", "loss/adv", "critic/gap", "guard/skipped")),
                  markup=False, highlight=False)
    if step >= cfg.steps and step == where.get("start"):
        out.print(f"run {out_dir} is finished ({step}/{cfg.steps} steps): raise steps in its config to train longer",
                  markup=False, highlight=False)
    elif step < cfg.steps:
        out.print(f"stopped at {step}/{cfg.steps}: continue with --resume", highlight=False)


def export(
    run: Path = typer.Argument(..., help="a training run folder"),
    model_dir: Path = typer.Argument(..., help="model folder to write (config.yaml, model.safetensors, README.md)"),
    name: Optional[str] = typer.Option(None, help="model name (default: the folder name)"),
    notes: Optional[Path] = typer.Option(None, help="markdown file appended to the model card (e.g. evaluation)"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace the model in MODEL_DIR (other files in it "
                                   "are kept); a folder that is not a model folder is never replaced"),
    best: bool = typer.Option(False, "--best", help="export the step kept as best on the validation split "
                              "(RUN/best/), not the latest"),
) -> None:
    """Export a run's latest EMA generator as a model folder that loads with no pickle."""
    from ..audio.export import export_model

    with user_errors():
        folder = export_model(run, model_dir, name, notes.read_text() if notes else "", overwrite=overwrite,
                              best=best)
    out.print(f"exported {folder}", markup=False)


def enhance(
    source: Path = typer.Argument(..., help="input audio file, or a folder (recursive)"),
    output: str = typer.Option(..., "-o", "--output", help="output file (an audio extension such as .flac picks "
                               "its format, else the input's); for one input a folder (ending in /) also works; "
                               "for a folder of inputs, the folder mirroring its tree"),
    model: Optional[Path] = typer.Option(None, help="model folder or shipped model name (default: the default model)"),
    device: str = typer.Option("auto", help="auto | cpu | cuda | cuda:N | mps"),
    batch_size: int = typer.Option(4, min=1, help="chunks per forward pass (raise it on a GPU)"),
    precision: str = typer.Option("fp32", help="fp32 | bf16 (autocast; a CUDA GPU of compute capability 8.0 on: "
                                  "A100, H100)"),
    workers: int = typer.Option(1, min=1, help="files processed at once (folders)"),
    threads: int = typer.Option(0, min=0, help="CPU threads for the model; 0: 1 for less than 10 s of audio, "
                                "else the idle cores"),
    engine: str = typer.Option("local", help="folders: local (threads here) | ray (a pool of Ray actors; "
                               "the ray extra)"),
    address: Optional[str] = typer.Option(None, help="--engine ray: the cluster to join (auto: this machine's); "
                                          "default: start a local one"),
    actors: int = typer.Option(0, min=0, help="--engine ray: model copies at once (0: one per GPU, else one per "
                               "--threads CPUs)"),
) -> None:
    """Enhance speech in a file or a folder; outputs keep rate, channels, format and bit depth.

    For a folder, finished outputs are skipped (a stopped run resumes), bad files are reported and
    skipped, and OUTPUT/enhance_report.tsv lists every input with ok / skipped / failed / pending and the reason;
    when files failed, the exit code is 2 (bad inputs), 1 if any failure was a system error (a full or
    read-only disk), 3 if any was a bug. --engine ray spreads the files over a Ray cluster, with the same
    outputs and report (IN and OUT on a file system every node sees).
    """
    import torch

    from ..audio.data.files import list_audio
    from ..audio.data.io import audio_seconds
    from ..audio.enhance.enhancer import Enhancer
    from ..audio.enhance.stream import enhance_file
    from ..checkpoint import check_output_folder
    from ..runtime import choose_threads, resolve_device

    dest = Path(output)
    with user_errors():
        if engine not in ("local", "ray"):
            raise ConfigError(f"--engine must be local or ray, got {engine!r}")
        if engine == "local" and (address is not None or actors):
            raise ConfigError("--address and --actors are options of --engine ray")
        if engine == "ray":
            if not source.is_dir():
                raise ConfigError("--engine ray enhances a folder: give a folder as input")
            if precision != "fp32":
                raise ConfigError("--precision: the Ray actors run fp32 only; use --engine local for bf16")
            from ..audio.enhance.ray_engine import import_ray

            import_ray()
        if source.is_dir():
            check_output_folder(dest)  # before the model loads
        enhancer = Enhancer.from_pretrained(model, device=resolve_device(device), precision=precision)
        files = list_audio([str(source)]) if source.is_dir() else [source]
        torch.set_num_threads(choose_threads(threads, audio_seconds(files), workers if source.is_dir() else 1))
        if source.is_dir():
            from ..audio.enhance.folder import enhance_folder

            with transient_progress() as bar:
                task = bar.add_task("enhancing", total=len(files))
                if engine == "ray":
                    from ..audio.enhance.ray_engine import enhance_folder_ray

                    report = enhance_folder_ray(model, source, dest, batch_size, actors, max(1, threads), address,
                                                progress=lambda rel, status: bar.advance(task))
                else:
                    report = enhance_folder(enhancer, source, dest, batch_size, workers,
                                            progress=lambda rel, status: bar.advance(task))
            report_rows("failed", ((rel, detail) for rel, (status, detail) in sorted(report.rows.items())
                                   if status == "failed"))
            out.print(f"{dest}: {report.summary()} (report: {dest / 'enhance_report.tsv'})", markup=False)
            worst = report.worst_failure()
            if worst is not None:
                raise typer.Exit({"bug": EXIT_BUG, "system": EXIT_SYSTEM, "input": EXIT_USER}[worst])
            return
        if output.endswith(("/", os.sep)) or dest.is_dir():  # -o DIR/: the input's name inside DIR
            dest.mkdir(parents=True, exist_ok=True)
            dest = dest / source.name
        enhance_file(enhancer, source, dest, batch_size=batch_size)
    out.print(f"wrote {dest}", markup=False)


def evaluate(
    clean: Path = typer.Option(..., help="folder of clean references"),
    test: Path = typer.Option(..., help="folder of degraded inputs (group sub-folders allowed: noise/x.wav)"),
    enhanced: Optional[Path] = typer.Option(None, help="folder of enhanced outputs, same tree as --test"),
    extra: Optional[list[str]] = typer.Option(None, help="more systems to compare, as NAME=FOLDER"),
    plot: Optional[Path] = typer.Option(None, help="write spectrogram comparisons (PNG) here"),
    json_out: Optional[Path] = typer.Option(None, "--json", help="also write the table as JSON"),
    cache: Optional[Path] = typer.Option(None, help="a file of earlier scores (JSON lines): files scored before, "
                                                    "byte for byte against the same reference, are not scored again"),
) -> None:
    """Tabulate PESQ (wideband), STOI, SI-SDR, log-spectral distance and DNSMOS (when speechmos is
    installed) for the input and the enhanced output, with deltas, per group and overall.

    Only files that every system scored are compared; the others are listed as left out, and when no
    file is left the exit code is 2.
    """
    from ..audio.evaluate.report import evaluate_folders, format_evaluation
    from ..checkpoint import atomic_write_text, check_output_file

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
        if json_out:
            check_output_file(json_out)  # before the scoring, not after it
        with transient_progress() as bar:
            task = bar.add_task("scoring", total=None)
            ev = evaluate_folders(clean, systems, plot_dir=plot, cache=cache,
                                  progress=lambda i, n: bar.update(task, completed=i, total=n))
        if json_out:
            atomic_write_text(json_out, ev.to_json())
    typer.echo(format_evaluation(ev))  # plain: a markdown table must not be re-wrapped
    if report_rows("left out", ev.failures.items()):
        err.print(f"{len(ev.failures)} file(s) left out: not scored by every system", highlight=False)
