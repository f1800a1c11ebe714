"""Export a training run to a model folder: config.yaml, model.safetensors (EMA generator), README.md."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import yaml

from ..checkpoint import atomic_write_text, latest_checkpoint, load_checkpoint, save_weights
from ..config import dump_yaml, load_config, parse_config
from ..errors import ConfigError, UserError
from ..gan import GrowthSchedule
from .enhance.enhancer import EnhancerConfig
from .models import SpectralGainConfig, WaveGeneratorConfig, make_generator
from .train import AudioTrainConfig, run_summary


log = logging.getLogger(__name__)
MODEL_FILES = ("config.yaml", "model.safetensors", "README.md", "training_config.yaml")  # what export writes


def is_model_folder(folder: Path) -> bool:
    """Whether ``folder`` holds an audiogan model: ``model.safetensors`` and a ``config.yaml`` that is a valid
    :class:`EnhancerConfig` (a folder of another tool with the same two names is not one)."""
    if not ((folder / "config.yaml").is_file() and (folder / "model.safetensors").is_file()):
        return False
    try:
        load_config(folder / "config.yaml", EnhancerConfig)
    except ConfigError:
        return False
    return True


def _check_destination(model_dir: Path, overwrite: bool) -> None:
    if model_dir.exists() and not model_dir.is_dir():
        raise UserError(f"{model_dir}: exists and is not a folder")
    if not model_dir.is_dir() or not any(model_dir.iterdir()):
        return
    if not is_model_folder(model_dir):
        raise UserError(f"{model_dir}: holds files and is not an audiogan model folder; it is left alone "
                        "(export into a new or empty folder)")
    if not overwrite:
        raise UserError(f"{model_dir}: already holds a model; pass --overwrite to replace it")


def _load_run(run: Path) -> tuple[Path, str, dict, dict | None, AudioTrainConfig]:
    """``(checkpoint, its config text, models, training state, config)`` of the run's latest checkpoint."""
    ckpt = latest_checkpoint(run)
    if ckpt is None:
        raise ConfigError(f"{run}: no checkpoint to export")
    try:
        cfg_text, models, state = load_checkpoint(ckpt)
    except Exception as err:  # a damaged or partly deleted checkpoint: no traceback, the cause in one line
        raise ConfigError(f"{ckpt}: cannot load the checkpoint ({str(err).splitlines()[0][:160]})") from None
    train_cfg = parse_config(yaml.safe_load(cfg_text), AudioTrainConfig, str(ckpt / "config.yaml"))
    if "generator" not in models:
        raise ConfigError(f"{ckpt}: cannot load the checkpoint (no generator.safetensors)")
    return ckpt, cfg_text, models, state, train_cfg


def export_model(run: str | Path, model_dir: str | Path, name: str | None = None,
                 notes: str = "", overwrite: bool = False) -> Path:
    """Write the latest checkpoint's generator (EMA weights when the run kept them) as a model folder.

    ``model_dir`` must be new, empty, or (with ``overwrite``) an audiogan model folder; any other folder is
    refused, never replaced. The folder is assembled under a temporary name and renamed into place; an
    existing model folder is replaced only once the new one is complete, keeping the files export does
    not write (``samples/``, figures). Exporting a run that has not reached its ``steps`` logs a warning.
    """
    run, model_dir = Path(run), Path(model_dir)
    _check_destination(model_dir, overwrite)
    ckpt, cfg_text, models, state, train_cfg = _load_run(run)
    weights = models.get("generator_ema", models["generator"])
    try:
        make_generator(train_cfg.generator).load_state_dict(weights, strict=True)  # refuse a mismatch now
    except RuntimeError as err:
        raise ConfigError(f"{ckpt}: weights do not fit the config ({str(err).splitlines()[0][:160]})") from None
    step = int(state["step"]) if state else -1
    if 0 <= step < train_cfg.steps:
        log.warning(f"{run}: exporting step {step} of {train_cfg.steps}: the run is not finished")
    config = EnhancerConfig(name=name or model_dir.name, sample_rate=train_cfg.sample_rate,
                            generator=train_cfg.generator)
    tmp = model_dir.with_name(f".{model_dir.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    atomic_write_text(tmp / "config.yaml", dump_yaml(config))
    save_weights(tmp / "model.safetensors", weights)
    atomic_write_text(tmp / "README.md", model_card(config, train_cfg, step, run, notes))
    atomic_write_text(tmp / "training_config.yaml", cfg_text)
    for extra in sorted(model_dir.iterdir()) if model_dir.is_dir() else []:  # samples/, figures: kept
        if extra.name in MODEL_FILES:
            continue
        if extra.is_dir() and not extra.is_symlink():
            shutil.copytree(extra, tmp / extra.name, symlinks=True)
        else:
            shutil.copy2(extra, tmp / extra.name, follow_symlinks=False)
    if model_dir.exists():
        old = model_dir.with_name(f".{model_dir.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        model_dir.rename(old)
        tmp.rename(model_dir)
        shutil.rmtree(old)
    else:
        tmp.rename(model_dir)
    return model_dir


def _architecture(g: SpectralGainConfig | WaveGeneratorConfig, params: int) -> str:
    size = f"{params / 1e6:.2f} M parameters, {g.channels} channels"
    if isinstance(g, SpectralGainConfig):
        return (f"a {g.conv_layers}-layer residual 1-D convolutional generator over STFT frames (n_fft {g.n_fft}, "
                f"hop {g.hop}; {size}) that\noutputs a gain in (0, {g.max_gain:g}) per time-frequency bin of the "
                "input, waveform in, waveform out")
    return f"a {g.conv_layers}-layer residual 1-D convolutional waveform generator\n({size}, hop {g.hop})"


def _growth(schedule: GrowthSchedule | None, unit: str) -> str:
    return schedule.describe(unit) if schedule is not None else "at full depth from the start"


def model_card(config: EnhancerConfig, train_cfg: AudioTrainConfig, step: int, run: Path, notes: str) -> str:
    g = train_cfg.generator
    params = sum(p.numel() for p in make_generator(g).parameters())
    last = run_summary(run)["last"]
    keys = ("loss/recon", "loss/adv", "critic/gap", "guard/skipped")
    figures = "\n".join(f"- `{k}` at the last logged step: {last[k]:.4g}" for k in keys if k in last)
    data = train_cfg.data
    weights = ", ".join(f"`{k}` {v:g}" for k, v in train_cfg.adversarial.weights.as_dict().items() if v)
    sources = ", ".join(data.clean + data.degraded) or "speech-like signals rendered by audiogan"
    return f"""# {config.name}

An audiogan speech enhancer: {_architecture(g, params)}, exported with its EMA weights.

- Sample rate: {config.sample_rate} Hz, mono (multichannel input is enhanced channel by channel).
- Training: {step} iterations, data mode `{data.mode}` from {sources}; degradations
  {", ".join(data.degrade.names)} (chains of up to {data.degrade.max_chain}).
- Losses: {train_cfg.adversarial.loss} critic (spectral norm on every conv, STFT sizes
  {train_cfg.critic.stft_sizes}, {train_cfg.critic.waveform_scales} waveform scale(s)), thresholded log-STFT
  reconstruction (tau {train_cfg.recon.tau}); weights {weights}.
- Growth: generator {_growth(train_cfg.generator_growth, "residual blocks")}; critic
  {_growth(train_cfg.critic_growth, "residual blocks per sub-critic")}.

## Figures from training
{figures or "- (no logged figures)"}

{notes}

Load it with `Enhancer.from_pretrained("path/to/this/folder")`, or by name, `Enhancer.from_pretrained("{config.name}")`,
once the folder is in audiogan's `models/` (or `$AUDIOGAN_MODELS`); from the command line,
`audiogan enhance IN -o OUT --model path/to/this/folder`.
The full training config is in `training_config.yaml`; `config.yaml` is what inference needs.
"""

