"""Train the enhancer: the audio application of the shared adversarial trainer.

A run folder holds ``config.yaml`` (the resolved config), ``checkpoints/step_*/``, ``metrics.jsonl``
(every logged scalar), ``loss_curves.png``, ``spectrograms.png`` (input / output / target of a fixed
example) and ``tb/`` (TensorBoard: every loss term, per-layer-group gradient norms, the critic's score
gap, growth depth and alpha, FARGAN count, audio and spectrogram images, instability events),
``diagnostics.jsonl`` and ``diagnostics_trace.jsonl`` (the live detectors' events and samples, see
:mod:`audiogan.gan.diagnostics`; ``audiogan diagnose RUN`` reports them).
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import field
from pathlib import Path
from typing import Callable

import numpy as np
import pydantic
import torch

from ..checkpoint import (FolderLock, atomic_write_text, checkpoints, latest_checkpoint, load_checkpoint, make_folder,
                          prune_checkpoints, rng_state, save_checkpoint, set_rng_state, step_folder)
from ..config import ConfigError, check_resume_config, dump_yaml
from ..distributed import World, gather, init_from_env, leave
from ..gan import (AdversarialTrainer, DiagnosticsConfig, GrowthSchedule, Monitor, OptimizerConfig, grad_norms_by_group,
                   make_optimizer, make_scheduler)
from ..runtime import resolve_device
from .data.cache import make_dataset
from .data.dataset import DataConfig, make_loader
from .losses import (AudioAdversarialConfig, ReconConfig, compressed_magnitude_loss, log_magnitude, sisdr_loss,
                     stoi_loss, thresholded_stft_loss, waveform_l1)
from .models import GeneratorConfig, SpectralGainConfig, make_generator
from .models.critic import AudioCritic, CriticConfig
from .phase_losses import complex_compressed_loss, phase_loss
from .metric import MetricLearner
from .models.metric_critic import MetricCriticConfig
from .validation import keep_if_best, validate
from .run_log import RunLogger
from .warm_start import WarmStartReport, warm_start

log = logging.getLogger(__name__)


class AudioTrainConfig(pydantic.BaseModel):
    """Everything a training run needs; saved resolved into the run folder."""

    model_config = pydantic.ConfigDict(extra="forbid")

    sample_rate: pydantic.PositiveInt = 16000
    seed: int = 0
    steps: pydantic.PositiveInt = 2000  # training iterations
    data: DataConfig = field(default_factory=DataConfig)
    generator: GeneratorConfig = field(default_factory=SpectralGainConfig)
    critic: CriticConfig = field(default_factory=CriticConfig)
    recon: ReconConfig = field(default_factory=ReconConfig)
    adversarial: AudioAdversarialConfig = field(default_factory=AudioAdversarialConfig)
    generator_opt: OptimizerConfig = field(default_factory=lambda: OptimizerConfig("adam", 2e-4, (0.5, 0.9)))
    critic_opt: OptimizerConfig = field(default_factory=lambda: OptimizerConfig("adam", 2e-4, (0.5, 0.9)))
    generator_growth: GrowthSchedule | None = None  # in residual blocks of the generator body
    critic_growth: GrowthSchedule | None = None  # in residual blocks of each sub-critic
    log_every: pydantic.PositiveInt = 25
    sample_every: pydantic.PositiveInt = 250
    checkpoint_every: pydantic.PositiveInt = 250
    keep_checkpoints: pydantic.PositiveInt = 3
    threads: pydantic.NonNegativeInt = 0  # CPU threads for torch; 0 keeps torch's default
    validation_segments: int = 0  # segments of the validation split scored at every checkpoint; 0 = off
    metric: MetricCriticConfig | None = None  # a metric critic (MetricGAN+) for loss/metric; needs pesq
    diagnostics: DiagnosticsConfig = field(default_factory=DiagnosticsConfig)  # thresholds of the live detectors

    @pydantic.model_validator(mode="after")
    def _metric_has_a_critic(self) -> "AudioTrainConfig":
        if self.adversarial.weights.metric and self.metric is None:
            raise ValueError("adversarial.weights.loss/metric needs a metric block (metric: {} for the defaults)")
        if self.metric is not None and self.data.mode == "unpaired":
            raise ValueError("metric: PESQ needs clean targets; unpaired data has none")
        return self

    @pydantic.model_validator(mode="after")
    def _growth_fits(self) -> "AudioTrainConfig":
        for name, sched, blocks in (("generator_growth", self.generator_growth, self.generator.blocks),
                                    ("critic_growth", self.critic_growth, self.critic.blocks)):
            if sched is not None and sched.max_depth != blocks:
                raise ValueError(f"{name}.max_depth ({sched.max_depth}) must equal the number of blocks ({blocks})")
        return self


def build_trainer(cfg: AudioTrainConfig, device: torch.device, init: str | Path | None = None,
                  ) -> tuple[AdversarialTrainer, WarmStartReport | None, MetricLearner | None]:
    """The trainer of a config, the warm start's report (``init``: a model or run folder) and the metric
    critic's learner (when the config has a metric block)."""
    torch.manual_seed(cfg.seed)
    generator = make_generator(cfg.generator)
    critic = AudioCritic(cfg.critic)
    report = warm_start(init, {"generator": generator, "critic": critic}) if init else None
    generator, critic = generator.to(device), critic.to(device)
    g_opt = make_optimizer(generator.parameters(), cfg.generator_opt)
    c_opt = make_optimizer(critic.parameters(), cfg.critic_opt)
    unpaired = cfg.data.mode == "unpaired"
    recon, weights = cfg.recon, cfg.adversarial.weights
    learner = None
    if cfg.metric is not None:
        try:
            import pesq  # noqa: F401
        except ImportError:
            raise ConfigError("metric: needs the pesq package (pip install 'audiogan[eval]')") from None
        learner = MetricLearner(cfg.metric, cfg.sample_rate, cfg.metric.lr, device)

    def generator_terms(fake: torch.Tensor, degraded: torch.Tensor, clean: torch.Tensor) -> dict[str, torch.Tensor]:
        target, tau = (degraded, recon.unpaired_tau) if unpaired else (clean, recon.tau)
        terms = {"loss/recon": thresholded_stft_loss(fake, target, tau, recon.fft_sizes, recon.log_floor)}
        if weights.wave:
            terms["loss/wave"] = waveform_l1(fake, target)
        if weights.mag:
            terms["loss/mag"] = compressed_magnitude_loss(fake, target, recon.fft_sizes)
        if weights.sisdr:
            terms["loss/sisdr"] = sisdr_loss(fake, target)
        if weights.stoi:
            terms["loss/stoi"] = stoi_loss(fake, target, cfg.sample_rate)
        if weights.complex:
            terms["loss/complex"] = complex_compressed_loss(fake, target, recon.phase_fft_sizes)
        if weights.phase:
            parts = phase_loss(fake, target, recon.phase_fft_sizes)
            terms["loss/phase"] = parts["ip"] + parts["gd"] + parts["iaf"]
        if learner is not None and weights.metric:
            terms["loss/metric"] = learner.generator_term(fake, degraded, clean)
        return terms

    trainer = AdversarialTrainer(
        generator, critic, g_opt, c_opt, cfg.adversarial, generator_terms=generator_terms,
        generator_growth=cfg.generator_growth, critic_growth=cfg.critic_growth,
        schedulers={"generator": make_scheduler(g_opt, cfg.generator_opt),
                    "critic": make_scheduler(c_opt, cfg.critic_opt)},
        device=device)
    return trainer, report, learner


def _prepare_run(cfg: AudioTrainConfig, run: Path, resume: bool) -> bool:
    """Check that ``run`` can take this run; returns whether to resume from a checkpoint.

    Writes no config: :func:`train` writes ``config.yaml`` once the models and data are built, so a start
    that fails (a missing data folder) leaves no run behind. A folder whose run never saved a checkpoint
    is started again, with or without ``--resume``. Resuming accepts one config change, ``steps`` (a
    finished run is extended by raising it), and the settings that do not change what is trained (threads,
    data workers, the detectors' thresholds); any other is refused with the difference.
    """
    saved = run / "config.yaml"
    has_checkpoint = latest_checkpoint(run) is not None
    if resume:
        if not saved.exists():
            raise ConfigError(f"{run}: nothing to resume (no config.yaml)")
        if not has_checkpoint:
            log.warning(f"{run}: no checkpoint to resume from; the run starts again from step 0")
            return False
        # The detectors' thresholds, the CPU threads and the data workers do not change what is trained: a
        # resumed run may change them too (more cores for a run carried on elsewhere).
        check_resume_config(saved.read_text(), cfg, str(run),
                            accept=("steps", "threads", "data.num_workers",
                                    *(f"diagnostics.{k}" for k in DiagnosticsConfig.keys())))
        return True
    if saved.exists() and has_checkpoint:
        raise ConfigError(f"{run}: already holds a run; pass --resume to continue it, or choose another --out")
    run.mkdir(parents=True, exist_ok=True)
    return False


def _resume(trainer: AdversarialTrainer, run: Path, device: torch.device,
            learner: MetricLearner | None = None, world: World = World()) -> tuple[Path, float]:
    """Load the newest checkpoint of ``run`` that loads; a damaged newer one is skipped with a warning that
    names it and the one resumed from. Returns it and the run's wall time so far (seconds). Raises
    :class:`ConfigError` when none loads.

    Under torchrun each rank takes its own saved RNG state when the checkpoint has one per rank for a
    world of the same size; otherwise rank 0 takes the saved state and the others a seed of their own."""
    skipped = []
    for ckpt in checkpoints(run):
        try:
            _, models, state = load_checkpoint(ckpt, device)
            trainer.load_state(models, state)
            if learner is not None:
                learner.load_state_dict(models["metric_critic"], state["metric"])
            ranks = state.get("rng_ranks") or []
            if world.distributed and len(ranks) == world.size:
                set_rng_state(ranks[world.rank])
            elif world.rank == 0:
                set_rng_state(state["rng"])
            else:
                _seed_rank(int(state["step"]) * 1009 + world.rank)
        except Exception as err:  # a truncated, corrupt or partly deleted checkpoint
            skipped.append(f"{ckpt.name} ({type(err).__name__}: {str(err).splitlines()[0][:120] if str(err) else ''})")
            continue
        if skipped:
            log.warning(f"{run}: checkpoint {'; '.join(skipped)} does not load; resuming from {ckpt.name}")
        return ckpt, float(state.get("wall_s", 0.0))
    raise ConfigError(f"{run}: no checkpoint loads: {'; '.join(skipped)}")


def _seed_rank(seed: int) -> None:
    """Seed this process's torch, numpy and random generators (a rank other than 0 under torchrun)."""
    import random

    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def _save(trainer: AdversarialTrainer, cfg: AudioTrainConfig, run: Path, logger: "RunLogger | None", wall_s: float,
          learner: MetricLearner | None = None, world: World = World(), collective: bool = True) -> Path | None:
    """Save a checkpoint (rank 0 writes it). Under torchrun every rank calls this, to hand over its RNG
    state, unless ``collective`` is off (an interrupted run, whose ranks may not all be here)."""
    rng = rng_state()
    ranks = gather(rng, world) if world.distributed and collective else []
    if not world.is_main:
        return None
    state = {**trainer.training_state(), "rng": rng, "wall_s": wall_s}
    if ranks:
        state["rng_ranks"] = ranks
    models = trainer.model_state()
    if learner is not None:
        learner.drain()  # nothing pending at a checkpoint: a resumed run and a straight one agree
        models["metric_critic"], state["metric"] = learner.critic.state_dict(), learner.state_dict()
    folder = save_checkpoint(step_folder(run, trainer.step), dump_yaml(cfg), models, state)
    prune_checkpoints(run, cfg.keep_checkpoints)
    if (run / "metrics.jsonl").exists():
        logger.curves()
    return folder


@torch.no_grad()
def _example(trainer: AdversarialTrainer, dataset) -> list[tuple[str, np.ndarray]]:
    degraded, clean = dataset.fixed_example()  # never drawn for training
    model = trainer.eval_generator()
    out = model(degraded.unsqueeze(0).to(trainer.device), **trainer.generator_kwargs())[0, 0].float().cpu().numpy()
    return [("input", degraded[0].numpy()), ("output", out), ("target", clean[0].numpy())]


def train(cfg: AudioTrainConfig, run: str | Path, resume: bool = False, device: str = "auto",
          progress: Callable[[int, int, dict[str, float]], None] | None = None,
          stop_after: int | None = None, init: str | Path | None = None) -> dict[str, float]:
    """Train (or resume) a run; returns the last logged statistics.

    One process at a time trains into ``run``: it holds ``RUN/.audiogan.lock`` (under torchrun, rank 0
    does), and a second ``train`` on the same folder is refused with a one-line error naming the holder.
    A folder this call made and left empty (a start that failed) is removed.

    Args:
        stop_after: stop once this many iterations are done in total (for tests and time-boxed runs);
            the run can be resumed later up to ``cfg.steps``.
        init: a model folder, checkpoint folder or run folder to warm-start a new run's networks from
            (every tensor that matches by name and shape; the rest are listed in ``RUN/warm_start.txt``).
    """
    run = Path(run)
    if os.environ.get("RANK", "0") != "0":  # torchrun's other ranks write nothing into the run
        return _train(cfg, run, resume, device, progress, stop_after, init)
    created = not run.exists()
    make_folder(run)
    try:
        with FolderLock(run):
            return _train(cfg, run, resume, device, progress, stop_after, init)
    finally:
        if created and run.is_dir() and not any(run.iterdir()):
            run.rmdir()


def _train(cfg: AudioTrainConfig, run: Path, resume: bool, device: str,
           progress: Callable[[int, int, dict[str, float]], None] | None,
           stop_after: int | None, init: str | Path | None) -> dict[str, float]:
    if stop_after is not None and stop_after < 1:
        raise ConfigError(f"stop_after must be >= 1, got {stop_after}")
    dev = resolve_device(device)  # a bad --device is refused before the run folder is touched
    world, dev = init_from_env(dev)  # under torchrun: join the process group (one GPU per process)
    if not world.is_main:
        progress = None  # one progress bar: rank 0's
    if world.distributed and cfg.metric is not None:
        raise ConfigError("metric: the metric critic is not trained under torchrun yet (its PESQ pool is per "
                          "process); drop the metric block or train in one process")
    resume = _prepare_run(cfg, run, resume)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    trainer, warm, learner = build_trainer(cfg, dev, init if not resume else None)
    if warm is not None and world.is_main:
        atomic_write_text(run / "warm_start.txt", "\n".join(warm.lines()) + "\n")
        atomic_write_text(run / "warm_start.json", json.dumps({"source": warm.source, **warm.seen}))
        for line in warm.lines():
            log.info("warm start: %s", line)
    wall_before = 0.0  # wall time of the run's earlier sessions
    if resume:
        _, wall_before = _resume(trainer, run, dev, learner, world)
        log.info("resumed %s at step %d", run, trainer.step)
    elif world.rank > 0:
        _seed_rank(cfg.seed * 1009 + world.rank)  # the same networks (seeded alike), its own noise draws
    if world.distributed:
        trainer.distribute([dev.index] if dev.type == "cuda" else None)
    dataset = make_dataset(cfg.data, cfg.sample_rate, cfg.seed)
    if dataset.report.problems:
        log.warning("corpus: %s", dataset.report.summary())
    valid = dataset.validation(cfg.validation_segments) if cfg.validation_segments else []
    batches = iter(make_loader(dataset, trainer.batches_drawn, world.rank, world.size))
    # Audio trained per iteration: the generator's batches (n_gen of them; the critic's batches are not
    # counted), so "hours seen" compares with a run that has no critic.
    # Under torchrun each of the world's processes trains on its own batches.
    # The audio a warm start's source had seen counts too (a model trained across runs).
    warm_file = run / "warm_start.json"
    hours_before = (json.loads(warm_file.read_text()).get("hours_seen") or 0.0) if warm_file.exists() else 0.0
    audio_per_iter = world.size * cfg.adversarial.n_gen * cfg.data.batch_size * dataset.length / cfg.sample_rate
    if world.is_main:
        atomic_write_text(run / "config.yaml", dump_yaml(cfg))  # the models and data are built: the run exists
    if trainer.step >= cfg.steps:
        log.info("%s is finished (%d/%d steps); raise steps in its config to train longer", run, trainer.step,
                 cfg.steps)
    logger = RunLogger(run, trainer.step, cfg.sample_rate) if world.is_main else None
    # Diversity on the mean log spectrum of each segment (what a collapsed enhancer would flatten).
    monitor = Monitor(cfg.diagnostics, cfg.adversarial, run=run, writer=logger.tb, start_step=trainer.step,
                      features=lambda x: log_magnitude(x, 512, cfg.recon.log_floor).mean(dim=-1)
                      ) if logger is not None else None  # under torchrun: rank 0 watches (its gradients are all's)
    end = min(cfg.steps, stop_after) if stop_after is not None else cfg.steps
    if progress:
        progress(trainer.step, cfg.steps, {})  # where the run starts (a resumed one part-way)
    stats: dict[str, float] = {}
    started, start_step = time.perf_counter(), trainer.step
    failing = False
    try:
        while trainer.step < end:
            stats = trainer.train_iteration(batches)
            if monitor is not None:
                monitor.after_iteration(trainer, stats)
            if learner is not None:
                stats.update(learner.after_iteration())
            step = trainer.step
            if (step % cfg.log_every == 0 or step == end) and logger is not None:
                elapsed = time.perf_counter() - started
                stats = {**stats, **grad_norms_by_group(trainer.unwrap(trainer.generator), "generator"),
                         **grad_norms_by_group(trainer.unwrap(trainer.critic), "critic"),
                         "time/iter_s": elapsed / max(1, step - start_step),
                         "time/audio_s_per_s": (step - start_step) * audio_per_iter / elapsed,
                         "data/hours_seen": hours_before + step * audio_per_iter / 3600,
                         "time/wall_h": (wall_before + elapsed) / 3600}
                logger.scalars(step, stats)
            if (step % cfg.sample_every == 0 or step == end) and logger is not None:
                logger.examples(step, _example(trainer, dataset))
            if step % cfg.checkpoint_every == 0 or step == end:
                _save(trainer, cfg, run, logger, wall_before + time.perf_counter() - started, learner, world)
                if valid and world.is_main:
                    scores = validate(trainer.eval_generator(), valid, trainer.generator_kwargs(), trainer.device,
                                      cfg.sample_rate, cfg.recon.tau, cfg.recon.fft_sizes, cfg.recon.log_floor)
                    logger.scalars(step, scores)
                    state = {**trainer.training_state(), "rng": rng_state(),
                             "wall_s": wall_before + time.perf_counter() - started}
                    if keep_if_best(run, step, scores, dump_yaml(cfg), trainer.model_state(), state,
                                    cfg.data.identity_fraction):
                        log.info("step %d: best on validation so far (%s)", step, scores)
            if progress:
                progress(step, cfg.steps, stats)
    except KeyboardInterrupt:
        failing = True
        _save(trainer, cfg, run, logger, wall_before + time.perf_counter() - started, learner, world,
              collective=False)  # between steps
        raise
    except BaseException:
        failing = True
        raise
    finally:
        try:
            if logger is not None:
                try:
                    logger.close()
                except OSError:  # a full disk fails the logs too: the error that stopped training is the one to see
                    if not failing:
                        raise
        finally:  # the metric critic's workers and the process group close whatever the logs did
            if learner is not None:
                learner.close()
            leave(world)
    return stats
