"""Warm starts: a new run's networks begin from a model folder or a run's checkpoint, tensor by tensor.

Every tensor whose name and shape match is loaded; every other one is named in the report (never a
silent ``strict=False``): a run that trains a longer recipe across sessions, or a new generator that
keeps the old body, sees exactly what carried over. The report also carries the hours of audio the source
had seen (from its run's log, or a model folder's ``training.json``), so a model's card counts them all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import json

import torch

from ..checkpoint import checkpoint_step, latest_checkpoint, load_checkpoint, load_weights
from ..errors import ConfigError
from ..resources import models_dir
from .run_log import seen_at


@dataclass
class WarmStartReport:
    source: str
    loaded: dict[str, list[str]] = field(default_factory=dict)  # network -> tensor names loaded
    skipped: dict[str, list[str]] = field(default_factory=dict)  # network -> "name: why"
    seen: dict = field(default_factory=dict)  # the source's hours_seen, iterations, wall_h (None: not recorded)

    def lines(self) -> list[str]:
        out = []
        for net in sorted(set(self.loaded) | set(self.skipped)):
            loaded, skipped = self.loaded.get(net, []), self.skipped.get(net, [])
            out.append(f"{net}: {len(loaded)} tensors loaded from {self.source}, {len(skipped)} not")
            out += [f"  not loaded: {entry}" for entry in skipped]
        hours = self.seen.get("hours_seen")
        seen = "not recorded" if hours is None else f"{hours:.2f} hours"
        return out + [f"audio {self.source} had trained on: {seen}"]


def _sources(path: Path) -> dict[str, dict[str, torch.Tensor]]:
    """``{network: state}`` from a model folder (model.safetensors: the generator; critic.safetensors when
    exported from a run whose critics trained), a checkpoint folder or a run folder (its latest checkpoint:
    generator_ema when present, and the critic)."""
    if (path / "model.safetensors").is_file():
        out = {"generator": load_weights(path / "model.safetensors")}
        if (path / "critic.safetensors").is_file():
            out["critic"] = load_weights(path / "critic.safetensors")
        return out
    ckpt = path if (path / "config.yaml").is_file() and any(path.glob("*.safetensors")) else latest_checkpoint(path)
    if ckpt is None:
        raise ConfigError(f"{path}: --init needs a model folder, a checkpoint folder or a run folder with a checkpoint")
    _, models, _ = load_checkpoint(ckpt)
    out = {"generator": models.get("generator_ema", models.get("generator", {}))}
    if "critic" in models:
        out["critic"] = models["critic"]
    return out


def seen_before(path: str | Path) -> dict:
    """What a model, checkpoint or run folder had trained on: ``{hours_seen, iterations, wall_h}``, each
    ``None`` when not recorded. A model folder's ``training.json``; for a run (its latest checkpoint), one of
    its checkpoints or its ``best/``, the run log at the checkpoint's step (hours include the run's own
    warm start; iterations and wall time are the run's)."""
    path, unknown = Path(path), {"hours_seen": None, "iterations": None, "wall_h": None}
    if (path / "training.json").is_file():
        record = json.loads((path / "training.json").read_text())
        return {key: record.get(key) for key in unknown}
    if (path / "model.safetensors").is_file():
        return unknown
    if path.name == "best" and (path.parent / "best.json").is_file():
        run, step = path.parent, json.loads((path.parent / "best.json").read_text())["step"]
    else:
        ckpt = path if path.name.startswith("step_") else latest_checkpoint(path)
        if ckpt is None:
            return unknown
        run, step = ckpt.parent.parent, checkpoint_step(ckpt)
    return seen_at(run, step)


def warm_start(path: str | Path, networks: dict[str, torch.nn.Module]) -> WarmStartReport:
    """Copy every matching tensor of ``path`` into ``networks`` (``{"generator": g, "critic": c}``); ``path`` is
    a folder, or the name of a model shipped in ``models/`` (as ``enhance --model`` takes)."""
    path = Path(path)
    if not path.exists() and (models_dir() / str(path)).is_dir():
        path = models_dir() / str(path)
    if not path.exists():
        raise ConfigError(f"{path}: --init: no such model or run folder")
    report = WarmStartReport(str(path), seen=seen_before(path))
    sources = _sources(path)
    for net, module in networks.items():
        target = module.state_dict()
        source = sources.get(net, {})
        loaded, skipped = [], []
        for name, tensor in target.items():
            if name not in source:
                skipped.append(f"{name}: not in {path.name}")
            elif source[name].shape != tensor.shape:
                skipped.append(f"{name}: shape {tuple(source[name].shape)} there, {tuple(tensor.shape)} here")
            else:
                loaded.append(name)
        extra = sorted(set(source) - set(target))
        skipped += [f"{name}: in {path.name} only" for name in extra]
        with torch.no_grad():
            module.load_state_dict({**target, **{n: source[n] for n in loaded}}, strict=True)
        report.loaded[net], report.skipped[net] = loaded, skipped
    return report
