"""Export a training run to a model folder: config.yaml, model.safetensors (EMA generator), README.md (the
model card), training_config.yaml and training.json (what training saw, for a later warm start's count)."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import yaml

from ..checkpoint import atomic_write_text, latest_checkpoint, load_checkpoint, save_weights
from ..config import dump_yaml, load_config, parse_config
from ..errors import ConfigError, UserError
from ..gan import GrowthSchedule
from .enhance.enhancer import EnhancerConfig
from .models import SpectralGainConfig, SpectralPhaseConfig, WaveGeneratorConfig, make_generator
from .run_log import run_summary, seen_at
from .train import AudioTrainConfig
from .validation import BEST


log = logging.getLogger(__name__)
# What export writes. critic.safetensors only for a run whose critics trained: a later ``--init`` from the
# model folder then warm-starts them too (the enhancer never reads it).
MODEL_FILES = ("config.yaml", "model.safetensors", "critic.safetensors", "README.md", "training_config.yaml",
               "training.json")


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


def _load_run(run: Path, best: bool = False) -> tuple[Path, str, dict, dict | None, AudioTrainConfig]:
    """``(checkpoint, its config text, models, training state, config)`` of the run's latest checkpoint, or of
    the step it kept as best on its validation split (``RUN/best/``)."""
    if best:
        ckpt = run / BEST
        if not (ckpt / "config.yaml").is_file():
            raise ConfigError(f"{run}: no best checkpoint (the run scores no validation split: validation_segments)")
    else:
        ckpt = latest_checkpoint(run)
    if ckpt is None:
        raise ConfigError(f"{run}: no checkpoint to export")
    return (ckpt, *read_checkpoint(ckpt))


def read_checkpoint(ckpt: Path) -> tuple[str, dict, dict | None, AudioTrainConfig]:
    """``(config text, models, training state, config)`` of one checkpoint folder of an audio run; a
    :class:`ConfigError` naming the cause in one line when it cannot be read or holds no generator."""
    try:
        cfg_text, models, state = load_checkpoint(ckpt)
    except Exception as err:  # a damaged or partly deleted checkpoint: no traceback, the cause in one line
        raise ConfigError(f"{ckpt}: cannot load the checkpoint ({str(err).splitlines()[0][:160]})") from None
    train_cfg = parse_config(yaml.safe_load(cfg_text), AudioTrainConfig, str(ckpt / "config.yaml"))
    if "generator" not in models:
        raise ConfigError(f"{ckpt}: cannot load the checkpoint (no generator.safetensors)")
    return cfg_text, models, state, train_cfg


def export_model(run: str | Path, model_dir: str | Path, name: str | None = None,
                 notes: str = "", overwrite: bool = False, best: bool = False) -> Path:
    """Write the latest checkpoint's generator (EMA weights when the run kept them) as a model folder; with
    ``best``, the step the run kept as best on its validation split.

    ``model_dir`` must be new, empty, or (with ``overwrite``) an audiogan model folder; any other folder is
    refused, never replaced. The folder is assembled under a temporary name and renamed into place; an
    existing model folder is replaced only once the new one is complete, keeping the files export does
    not write (``samples/``, figures). Exporting a run that has not reached its ``steps`` logs a warning.
    """
    run, model_dir = Path(run), Path(model_dir)
    _check_destination(model_dir, overwrite)
    ckpt, cfg_text, models, state, train_cfg = _load_run(run, best)
    weights = models.get("generator_ema", models["generator"])
    try:
        make_generator(train_cfg.generator).load_state_dict(weights, strict=True)  # refuse a mismatch now
    except RuntimeError as err:
        raise ConfigError(f"{ckpt}: weights do not fit the config ({str(err).splitlines()[0][:160]})") from None
    step = int(state["step"]) if state else -1
    if 0 <= step < train_cfg.steps and not best:
        log.warning(f"{run}: exporting step {step} of {train_cfg.steps}: the run is not finished")
    config = EnhancerConfig(name=name or model_dir.name, sample_rate=train_cfg.sample_rate,
                            generator=train_cfg.generator)
    tmp = model_dir.with_name(f".{model_dir.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    atomic_write_text(tmp / "config.yaml", dump_yaml(config))
    save_weights(tmp / "model.safetensors", weights)
    if "critic" in models and train_cfg.adversarial.weights.uses_critic:
        save_weights(tmp / "critic.safetensors", models["critic"])
    atomic_write_text(tmp / "README.md", model_card(config, train_cfg, step, run, notes, best))
    atomic_write_text(tmp / "training_config.yaml", cfg_text)
    atomic_write_text(tmp / "training.json", json.dumps(_seen_numbers(run, step), indent=1))
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


def _architecture(g: SpectralGainConfig | SpectralPhaseConfig | WaveGeneratorConfig, params: int) -> str:
    size = f"{params / 1e6:.2f} M parameters, {g.channels} channels"
    if isinstance(g, SpectralPhaseConfig):
        return (f"a {g.conv_layers}-layer residual 1-D convolutional generator over STFT frames (n_fft {g.n_fft}, "
                f"hop {g.hop}; {size}) with\nparallel heads: a magnitude mask in (0, {g.max_gain:g}), a phase "
                "rotation" + (" and an additive complex residual" if g.residual else "") + " per bin; waveform in, "
                "waveform out")
    if isinstance(g, SpectralGainConfig):
        return (f"a {g.conv_layers}-layer residual 1-D convolutional generator over STFT frames (n_fft {g.n_fft}, "
                f"hop {g.hop}; {size}) that\noutputs a gain in (0, {g.max_gain:g}) per time-frequency bin of the "
                "input, waveform in, waveform out")
    return f"a {g.conv_layers}-layer residual 1-D convolutional waveform generator\n({size}, hop {g.hop})"


def _growth(schedule: GrowthSchedule | None, unit: str) -> str:
    return schedule.describe(unit) if schedule is not None else "at full depth from the start"


def _seen_numbers(run: Path, step: int) -> dict:
    """``{iterations, hours_seen, wall_h}`` at ``step`` from the run's log (None where not logged)."""
    warm = run / "warm_start.json"
    return {**seen_at(run, step), "warm_start": json.loads(warm.read_text()) if warm.exists() else None}


def _seen(run: Path, step: int, train_cfg: AudioTrainConfig, best: bool) -> str:
    """What training saw, from the run's log: hours of audio, iterations, wall time; and the selection."""
    rows = run_summary(run)["rows"]
    logged = [r for r in rows if "data/hours_seen" in r and r["step"] <= step]
    text = ""
    if logged:
        r = logged[-1]
        timed = [row["step"] for row in rows if "time/wall_h" in row]
        # A run begun before wall time was checkpointed counts it only from the session that began saving it.
        since = (f" (timed from step {timed[0]} on: the sessions before were not)"
                 if timed and timed[0] > logged[0]["step"] else "")
        wall = (f"{r['time/wall_h']:.1f} hours of wall time{since}" if "time/wall_h" in r
                else "wall time not recorded")
        warm = json.loads((run / "warm_start.json").read_text()) if (run / "warm_start.json").exists() else None
        before = ""
        if warm and warm.get("hours_seen") is not None:
            more = (f" in {warm['iterations']} iterations" if warm.get("iterations") is not None else "") + (
                f", {warm['wall_h']:.1f} hours of wall time" if warm.get("wall_h") is not None else "")
            before = (f"; {warm['hours_seen']:.1f} of those hours were seen before this run, by {warm['source']} "
                      f"(its warm start){more}")
        elif warm:
            before = f"; warm-started from {warm['source']}, whose hours were not recorded"
        text = (f"- Seen: {r['data/hours_seen']:.1f} hours of audio (the generator's batches) in {step} iterations, "
                f"{wall}{before}.")
    if best and (run / f"{BEST}.json").exists():
        b = json.loads((run / f"{BEST}.json").read_text())
        clean = (f"; on the clean targets as input {b['valid/pesq_clean']:.3f} (4.64: untouched)"
                 if "valid/pesq_clean" in b else "")
        score = (f"validation PESQ {b['valid/pesq']:.3f} (its input {b.get('valid/pesq_input', float('nan')):.3f})"
                 f"{clean}"
                 if "valid/pesq" in b else f"validation recon loss {b['valid/recon']:.4f}")
        text += (f"\n- Selected: step {b['step']} of {train_cfg.steps}, the best on the validation split (training "
                 f"voices, other crops and damage; the held-out set was not used): {score}.")
    return text


def _sources(data) -> str:
    if data.mode == "cached":
        meta = json.loads((Path(data.cache) / "cache.json").read_text()) if (Path(data.cache) / "cache.json").exists() else {}
        made = meta.get("data", {})
        return (f"a segment cache ({data.cache}: {meta.get('segments', '?')} segments of {made.get('segment_seconds', '?')} s"
                f") made from {', '.join(made.get('clean', [])) or 'speech-like signals'}; degradations "
                f"{', '.join(made.get('degrade', {}).get('names', []))}")
    sources = ", ".join(data.clean + data.degraded) or "speech-like signals rendered by audiogan"
    return f"{sources}; degradations {', '.join(data.degrade.names)} (chains of up to {data.degrade.max_chain})"


def model_card(config: EnhancerConfig, train_cfg: AudioTrainConfig, step: int, run: Path, notes: str,
               best: bool = False) -> str:
    g = train_cfg.generator
    params = sum(p.numel() for p in make_generator(g).parameters())
    # Each name's last logged value: the last row may be a checkpoint's validation scores alone.
    last = {k: v for row in run_summary(run)["rows"] for k, v in row.items()}
    keys = ("loss/recon", "loss/adv", "critic/gap", "guard/skipped")
    figures = "\n".join(f"- `{k}` at the last logged step: {last[k]:.4g}" for k in keys if k in last)
    data = train_cfg.data
    weights = ", ".join(f"`{k}` {v:g}" for k, v in train_cfg.adversarial.weights.as_dict().items() if v)
    periods = f", period sub-critics {train_cfg.critic.periods}" if train_cfg.critic.periods else ""
    critic = (f"{train_cfg.adversarial.loss} critic (spectral norm on every conv, STFT sizes "
              f"{train_cfg.critic.stft_sizes}, {train_cfg.critic.waveform_scales} waveform scale(s){periods}), "
              if train_cfg.adversarial.weights.uses_critic else
              "no adversarial term (reconstruction only: the critics were never trained), ")
    return f"""# {config.name}

An audiogan speech enhancer: {_architecture(g, params)}, exported with its EMA weights.

- Sample rate: {config.sample_rate} Hz, mono (multichannel input is enhanced channel by channel).
- Training: {step} iterations, data mode `{data.mode}` from {_sources(data)}.
{_seen(run, step, train_cfg, best)}
- Losses: {critic}thresholded log-STFT reconstruction (tau {train_cfg.recon.tau}); weights {weights}.
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

