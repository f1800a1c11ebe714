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
corpus_app = typer.Typer(help="Build speech corpora offline: render with flite/espeak-ng, or import recordings.",
                         no_args_is_help=True)
app.add_typer(corpus_app, name="corpus")
toy_app = typer.Typer(help="The 2-D mode-coverage benchmark (ring and grid mixtures).", no_args_is_help=True)
app.add_typer(toy_app, name="toy")

err = Console(stderr=True)
out = Console()


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn the errors a user can cause into one line and exit code 2 (1 for I/O failures)."""
    try:
        yield
    except typer.Exit:  # a deliberate exit code (click's Exit is a RuntimeError): not an error message
        raise
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
    workers: int = typer.Option(2, help="parallel training processes; the CPU cores are split among them"),
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
    typer.echo(format_table(data, seeds, table))


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
    notes: Optional[Path] = typer.Option(None, help="markdown file appended to the model card (e.g. evaluation)"),
) -> None:
    """Export a run's latest EMA generator as a model folder that loads with no pickle."""
    from .audio.export import export_model

    with user_errors():
        folder = export_model(run, model_dir, name, notes.read_text() if notes else "")
    out.print(f"exported {folder}")


@app.command()
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
    from .audio.enhance import Enhancer, enhance_file
    from .audio.train import resolve_device

    with user_errors():
        enhancer = Enhancer.from_pretrained(model, device=resolve_device(device))
        if source.is_dir():
            from rich.progress import Progress

            from .audio.batch import enhance_folder

            with Progress(console=err, transient=True) as bar:
                task = bar.add_task("enhancing", total=None)
                report = enhance_folder(enhancer, source, output, batch_size, workers,
                                        progress=lambda rel, status: bar.advance(task))
            for rel, (status, detail) in sorted(report.rows.items()):
                if status == "failed":
                    err.print(f"failed {rel}: {detail}", highlight=False, soft_wrap=True)
            out.print(f"{output}: {report.summary()} (report: {output / 'enhance_report.tsv'})")
            if report.count("failed"):
                raise typer.Exit(1)
            return
        enhance_file(enhancer, source, output, batch_size=batch_size)
    out.print(f"wrote {output}")


@app.command()
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

    from .audio.metrics import evaluate_folders, format_evaluation
    from .checkpoint import atomic_write_text

    systems = {"input": test}
    if enhanced is not None:
        systems["enhanced"] = enhanced
    with user_errors():
        for item in extra or []:
            name, _, folder = item.partition("=")
            if not folder:
                raise ValueError(f"--extra takes NAME=FOLDER, got {item!r}")
            systems[name] = Path(folder)
        for name, folder in [("clean", clean), *systems.items()]:
            if not folder.is_dir():
                raise ValueError(f"{folder}: not a folder ({name})")
        with Progress(console=err, transient=True) as bar:
            task = bar.add_task("scoring", total=None)
            ev = evaluate_folders(clean, systems, plot_dir=plot,
                                  progress=lambda i, n: bar.update(task, completed=i, total=n))
        if json_out:
            atomic_write_text(json_out, ev.to_json())
    typer.echo(format_evaluation(ev))  # plain: a markdown table must not be re-wrapped
    for rel, reason in ev.failures.items():
        err.print(f"failed {rel}: {reason}", highlight=False, soft_wrap=True)


@corpus_app.command("make")
def corpus_make(
    out_dir: Path = typer.Option(..., "--out", help="folder for <voice>/<n>.wav (+ .txt transcripts)"),
    minutes: float = typer.Option(10.0, help="minutes of speech to render"),
    split: str = typer.Option("train", help="train | eval: disjoint voices and sentences"),
    sample_rate: int = typer.Option(16000, help="output rate (Hz)"),
    seed: int = typer.Option(0, help="sentence seed within the split"),
) -> None:
    """Render clean speech with every installed flite voice and espeak-ng voice variants.

    Needs: apt-get install flite espeak-ng
    """
    from rich.progress import Progress

    from .audio.corpus import make_corpus

    with user_errors(), Progress(console=err, transient=True) as bar:
        task = bar.add_task("rendering", total=minutes * 60)
        result = make_corpus(out_dir, minutes, sample_rate, split, seed,
                             progress=lambda done, total: bar.update(task, completed=done))
    _corpus_report(result)


@corpus_app.command("import")
def corpus_import(
    source: Path = typer.Argument(..., help="folder of recordings (any format libsndfile or ffmpeg reads)"),
    out_dir: Path = typer.Option(..., "--out", help="destination folder (relative paths mirrored)"),
    sample_rate: int = typer.Option(16000, help="output rate (Hz)"),
) -> None:
    """Decode a folder of recordings to mono wav at the model's rate; bad files are reported and skipped."""
    from rich.progress import Progress

    from .audio.corpus import import_folder

    with user_errors(), Progress(console=err, transient=True) as bar:
        task = bar.add_task("importing", total=None)
        result = import_folder(source, out_dir, sample_rate,
                               progress=lambda i, n: bar.update(task, completed=i, total=n))
    _corpus_report(result)


@corpus_app.command("eval-set")
def corpus_eval_set(
    clean: Path = typer.Argument(..., help="folder of clean speech never used in training"),
    out_dir: Path = typer.Option(..., "--out", help="writes OUT/clean/ and OUT/degraded/<family>/"),
    families: Optional[str] = typer.Option(None, help="comma-separated degradation families (default: all)"),
    max_files: Optional[int] = typer.Option(None, help="use at most this many clean files"),
    seed: int = typer.Option(0, help="seed of the degradations"),
) -> None:
    """Make a held-out test set: every clean file degraded once per degradation family."""
    from .audio.corpus import make_eval_set

    with user_errors():
        names = [f.strip() for f in families.split(",")] if families else None
        result = make_eval_set(clean, out_dir, seed=seed, families=names, max_files=max_files)
    _corpus_report(result)


def _corpus_report(result) -> None:
    out.print(f"{result.files} files, {result.seconds / 60:.1f} new minutes")
    for path, reason in result.problems.items():
        err.print(f"skipped {path}: {reason}", highlight=False, soft_wrap=True)
    if result.problems:
        err.print(f"{len(result.problems)} problem(s)")


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
