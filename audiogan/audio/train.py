"""Train the enhancer: the audio application of the shared adversarial trainer.

A run folder holds ``config.yaml`` (the resolved config), ``checkpoints/step_*/``, ``metrics.jsonl``
(every logged scalar), ``loss_curves.png``, ``spectrograms.png`` (input / output / target of a fixed
example) and ``tb/`` (TensorBoard: every loss term, per-layer-group gradient norms, the critic's score
gap, growth depth and alpha, FARGAN count, audio and spectrogram images).
"""

from __future__ import annotations

import json
import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pydantic
import torch

from ..checkpoint import (atomic_write_text, latest_checkpoint, load_checkpoint, prune_checkpoints,
                          rng_state, save_checkpoint, set_rng_state, step_folder)
from ..config import ConfigError, check_resume_config, dump_yaml
from ..gan import AdversarialTrainer, GrowthSchedule, OptimizerConfig, grad_norms_by_group, make_optimizer, make_scheduler
from ..plotting import loss_curves, save_figure
from ..runtime import resolve_device
from .data.dataset import DataConfig, EnhancementDataset, make_loader
from .losses import (AudioAdversarialConfig, ReconConfig, compressed_magnitude_loss, stoi_loss, thresholded_stft_loss,
                     waveform_l1)
from .models import GeneratorConfig, SpectralGainConfig, make_generator
from .models.critic import AudioCritic, CriticConfig

log = logging.getLogger(__name__)


class AudioTrainConfig(pydantic.BaseModel):
    """Everything a training run needs; saved resolved into the run folder."""

    model_config = pydantic.ConfigDict(extra="forbid")

    sample_rate: int = 16000
    seed: int = 0
    steps: int = 2000  # training iterations
    data: DataConfig = field(default_factory=DataConfig)
    generator: GeneratorConfig = field(default_factory=SpectralGainConfig)
    critic: CriticConfig = field(default_factory=CriticConfig)
    recon: ReconConfig = field(default_factory=ReconConfig)
    adversarial: AudioAdversarialConfig = field(default_factory=AudioAdversarialConfig)
    generator_opt: OptimizerConfig = field(default_factory=lambda: OptimizerConfig("adam", 2e-4, (0.5, 0.9)))
    critic_opt: OptimizerConfig = field(default_factory=lambda: OptimizerConfig("adam", 2e-4, (0.5, 0.9)))
    generator_growth: GrowthSchedule | None = None  # in residual blocks of the generator body
    critic_growth: GrowthSchedule | None = None  # in residual blocks of each sub-critic
    log_every: int = 25
    sample_every: int = 250
    checkpoint_every: int = 250
    keep_checkpoints: int = 3
    threads: int = 0  # CPU threads for torch; 0 keeps torch's default

    @pydantic.model_validator(mode="after")
    def _growth_fits(self) -> "AudioTrainConfig":
        for name, sched, blocks in (("generator_growth", self.generator_growth, self.generator.blocks),
                                    ("critic_growth", self.critic_growth, self.critic.blocks)):
            if sched is not None and sched.max_depth != blocks:
                raise ValueError(f"{name}.max_depth ({sched.max_depth}) must equal the number of blocks ({blocks})")
        return self


def build_trainer(cfg: AudioTrainConfig, device: torch.device) -> AdversarialTrainer:
    torch.manual_seed(cfg.seed)
    generator = make_generator(cfg.generator).to(device)
    critic = AudioCritic(cfg.critic).to(device)
    g_opt = make_optimizer(generator.parameters(), cfg.generator_opt)
    c_opt = make_optimizer(critic.parameters(), cfg.critic_opt)
    unpaired = cfg.data.mode == "unpaired"
    recon, weights = cfg.recon, cfg.adversarial.weights

    def generator_terms(fake: torch.Tensor, degraded: torch.Tensor, clean: torch.Tensor) -> dict[str, torch.Tensor]:
        target, tau = (degraded, recon.unpaired_tau) if unpaired else (clean, recon.tau)
        terms = {"loss/recon": thresholded_stft_loss(fake, target, tau, recon.fft_sizes, recon.log_floor)}
        if weights.wave:
            terms["loss/wave"] = waveform_l1(fake, target)
        if weights.mag:
            terms["loss/mag"] = compressed_magnitude_loss(fake, target, recon.fft_sizes)
        if weights.stoi:
            terms["loss/stoi"] = stoi_loss(fake, target, cfg.sample_rate)
        return terms

    return AdversarialTrainer(
        generator, critic, g_opt, c_opt, cfg.adversarial, generator_terms=generator_terms,
        generator_growth=cfg.generator_growth, critic_growth=cfg.critic_growth,
        schedulers={"generator": make_scheduler(g_opt, cfg.generator_opt),
                    "critic": make_scheduler(c_opt, cfg.critic_opt)},
        device=device)


def _prepare_run(cfg: AudioTrainConfig, run: Path, resume: bool) -> None:
    saved = run / "config.yaml"
    if resume:
        if not saved.exists():
            raise ConfigError(f"{run}: nothing to resume (no config.yaml)")
        check_resume_config(saved.read_text(), cfg, str(run))
    elif saved.exists():
        raise ConfigError(f"{run}: already holds a run; pass --resume to continue it, or choose another --out")
    run.mkdir(parents=True, exist_ok=True)
    atomic_write_text(saved, dump_yaml(cfg))


def _truncate_metrics(path: Path, step: int) -> None:
    """On resume, drop log lines written after the checkpoint (they will be written again)."""
    if path.exists():
        keep = [line for line in path.read_text().splitlines() if line and json.loads(line)["step"] <= step]
        atomic_write_text(path, "".join(f"{line}\n" for line in keep))


class _Logger:
    def __init__(self, run: Path, start_step: int, sample_rate: int):
        from torch.utils.tensorboard import SummaryWriter

        self.run, self.sr = run, sample_rate
        self.metrics = run / "metrics.jsonl"
        _truncate_metrics(self.metrics, start_step)
        self.tb = SummaryWriter(str(run / "tb"), purge_step=start_step if start_step else None)
        self._painter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="loss-curves")
        self._drawing: Future | None = None

    def scalars(self, step: int, stats: dict[str, float]) -> None:
        for k, v in stats.items():
            self.tb.add_scalar(k, v, step)
        with open(self.metrics, "a") as fh:
            fh.write(json.dumps({"step": step, **{k: round(float(v), 6) for k, v in stats.items()}}) + "\n")

    def examples(self, step: int, signals: list[tuple[str, np.ndarray]]) -> None:
        from .evaluate.plots import spectrogram_figure

        for title, x in signals:
            self.tb.add_audio(f"audio/{title}", torch.from_numpy(x).unsqueeze(0), step, sample_rate=self.sr)
        fig = spectrogram_figure(signals, self.sr)
        save_figure(fig, self.run / "spectrograms.png")
        self.tb.add_figure("spectrograms", fig, step, close=False)

    def curves(self) -> None:
        """Redraw ``loss_curves.png`` in the background (a second or more on CPU): training goes on, and
        a request while a drawing is still running is dropped (the next checkpoint draws the newer data)."""
        if self._drawing is None or self._drawing.done():
            self._drawing = self._painter.submit(loss_curves, self.metrics, self.run / "loss_curves.png")

    def close(self) -> None:
        self._painter.shutdown(wait=True)
        if self._drawing is not None:
            self._drawing.result()  # a drawing error is raised, not lost
        self.tb.close()


def _save(trainer: AdversarialTrainer, cfg: AudioTrainConfig, run: Path, logger: _Logger) -> Path:
    state = {**trainer.training_state(), "rng": rng_state()}
    folder = save_checkpoint(step_folder(run, trainer.step), dump_yaml(cfg), trainer.model_state(), state)
    prune_checkpoints(run, cfg.keep_checkpoints)
    if (run / "metrics.jsonl").exists():
        logger.curves()
    return folder


@torch.no_grad()
def _example(trainer: AdversarialTrainer, dataset: EnhancementDataset) -> list[tuple[str, np.ndarray]]:
    degraded, clean = dataset[2 ** 40]  # a fixed example, never drawn for training
    model = trainer.eval_generator()
    out = model(degraded.unsqueeze(0).to(trainer.device), **trainer.generator_kwargs())[0, 0].float().cpu().numpy()
    return [("input", degraded[0].numpy()), ("output", out), ("target", clean[0].numpy())]


def train(cfg: AudioTrainConfig, run: str | Path, resume: bool = False, device: str = "auto",
          progress: Callable[[int, int, dict[str, float]], None] | None = None,
          stop_after: int | None = None) -> dict[str, float]:
    """Train (or resume) a run; returns the last logged statistics.

    Args:
        stop_after: stop once this many iterations are done in total (for tests and time-boxed runs);
            the run can be resumed later up to ``cfg.steps``.
    """
    run = Path(run)
    _prepare_run(cfg, run, resume)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    dev = resolve_device(device)
    trainer = build_trainer(cfg, dev)
    ckpt = latest_checkpoint(run) if resume else None
    if ckpt is not None:
        _, models, state = load_checkpoint(ckpt, dev)
        trainer.load_state(models, state)
        set_rng_state(state["rng"])
        log.info("resumed %s at step %d", run, trainer.step)
    dataset = EnhancementDataset(cfg.data, cfg.sample_rate, cfg.seed)
    if dataset.report.problems:
        log.warning("corpus: %s", dataset.report.summary())
    batches = iter(make_loader(dataset, trainer.batches_drawn))
    logger = _Logger(run, trainer.step, cfg.sample_rate)
    end = min(cfg.steps, stop_after) if stop_after is not None else cfg.steps
    stats: dict[str, float] = {}
    started = time.perf_counter()
    try:
        while trainer.step < end:
            stats = trainer.train_iteration(batches)
            step = trainer.step
            if step % cfg.log_every == 0 or step == end:
                stats = {**stats, **grad_norms_by_group(trainer.generator, "generator"),
                         **grad_norms_by_group(trainer.critic, "critic"),
                         "time/iter_s": (time.perf_counter() - started) / max(1, step)}
                logger.scalars(step, stats)
            if step % cfg.sample_every == 0 or step == end:
                logger.examples(step, _example(trainer, dataset))
            if step % cfg.checkpoint_every == 0 or step == end:
                _save(trainer, cfg, run, logger)
            if progress:
                progress(step, cfg.steps, stats)
    except KeyboardInterrupt:
        _save(trainer, cfg, run, logger)  # between steps, so the state is consistent
        raise
    finally:
        logger.close()
    return stats


def run_summary(run: str | Path) -> dict[str, Any]:
    """Last logged statistics and counts of a run (for the model card and reports)."""
    path = Path(run) / "metrics.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
    return {"last": rows[-1] if rows else {}, "logged": len(rows)}
