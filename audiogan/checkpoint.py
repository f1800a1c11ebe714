"""Checkpoint folders: ``config.yaml`` + ``<name>.safetensors`` per model + ``training_state.pt``.

Layout of a training run::

    RUN/
      config.yaml                 resolved config of the run
      checkpoints/step_00001000/  config.yaml, generator.safetensors, critic.safetensors,
                                  generator_ema.safetensors, training_state.pt
      checkpoints/.step_....tmp-* a write in progress (ignored; removed by the next save)

Every folder is written under a temporary name and renamed when complete, so a ``kill -9`` at any
moment leaves either the old set of checkpoints or the new one, never a half-written one. Loading
never executes code: weights come from safetensors and the training state from
``torch.load(weights_only=True)``; state dicts load with ``strict=True``.
"""

from __future__ import annotations

import os
import random
import re
import shutil
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import safetensors.torch
import torch

Tensor = torch.Tensor
CONFIG_NAME = "config.yaml"
STATE_NAME = "training_state.pt"
_STEP_DIR = re.compile(r"^step_(\d+)$")


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a temporary sibling of ``path``, then rename it over ``path``."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text))


def save_weights(path: str | Path, state: Mapping[str, Tensor]) -> None:
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in state.items()}
    atomic_write(path, lambda tmp: safetensors.torch.save_file(tensors, str(tmp)))


def load_weights(path: str | Path, device: str | torch.device = "cpu") -> dict[str, Tensor]:
    return safetensors.torch.load_file(str(path), device=str(device))


def rng_state() -> dict[str, Any]:
    """Global RNG states of torch (CPU and CUDA), numpy and ``random``, as weights-only-safe data."""
    np_state = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]],
        "python": random.getstate(),
    }


def set_rng_state(state: Mapping[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), *rest))
    kind, internal, gauss = state["python"]
    random.setstate((kind, tuple(internal), gauss))


def save_checkpoint(folder: str | Path, config_yaml: str, models: Mapping[str, Mapping[str, Tensor]],
                    training_state: Mapping[str, Any] | None = None) -> Path:
    """Write a checkpoint folder atomically (a complete folder appears, or nothing changes)."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.with_name(f".{folder.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    (tmp / CONFIG_NAME).write_text(config_yaml)
    for name, state in models.items():
        save_weights(tmp / f"{name}.safetensors", state)
    if training_state is not None:
        torch.save(dict(training_state), tmp / STATE_NAME)
    if folder.exists():
        old = folder.with_name(f".{folder.name}.old-{os.getpid()}")
        os.replace(folder, old)
        os.replace(tmp, folder)
        shutil.rmtree(old)
    else:
        os.replace(tmp, folder)
    return folder


def load_checkpoint(folder: str | Path, device: str | torch.device = "cpu"
                    ) -> tuple[str, dict[str, dict[str, Tensor]], dict[str, Any] | None]:
    """``(config_yaml, {model name: state dict}, training_state or None)`` from a checkpoint folder."""
    folder = Path(folder)
    if not (folder / CONFIG_NAME).is_file():
        raise FileNotFoundError(f"{folder}: not a checkpoint folder (no {CONFIG_NAME})")
    models = {p.stem: load_weights(p, device) for p in sorted(folder.glob("*.safetensors"))}
    state_path = folder / STATE_NAME
    state = torch.load(state_path, map_location=device, weights_only=True) if state_path.exists() else None
    return (folder / CONFIG_NAME).read_text(), models, state


def step_folder(run: str | Path, step: int) -> Path:
    return Path(run) / "checkpoints" / f"step_{step:08d}"


def latest_checkpoint(run: str | Path) -> Path | None:
    """The complete checkpoint with the highest step in ``run``, or ``None``."""
    root = Path(run) / "checkpoints"
    found = [(int(m.group(1)), p) for p in root.glob("step_*")
             if (m := _STEP_DIR.match(p.name)) and (p / CONFIG_NAME).is_file()]
    return max(found)[1] if found else None


def prune_checkpoints(run: str | Path, keep: int) -> None:
    """Keep the ``keep`` newest step folders; remove older ones and stale temporaries."""
    root = Path(run) / "checkpoints"
    found = sorted((int(m.group(1)), p) for p in root.glob("step_*") if (m := _STEP_DIR.match(p.name)))
    for _, p in found[:-keep] if keep > 0 else []:
        shutil.rmtree(p, ignore_errors=True)
    for p in root.glob(".step_*"):
        if f"-{os.getpid()}" not in p.name:
            shutil.rmtree(p, ignore_errors=True)
