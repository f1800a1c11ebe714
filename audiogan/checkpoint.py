"""Checkpoint folders: ``config.yaml`` + ``<name>.safetensors`` per model + ``training_state.pt``.

Layout of a training run::

    RUN/
      config.yaml                 resolved config of the run
      checkpoints/step_00001000/  config.yaml, generator.safetensors, critic.safetensors,
                                  generator_ema.safetensors, training_state.pt
      checkpoints/.step_....tmp-* a write in progress (ignored; removed by the next save)

Every folder is written under a temporary name and renamed when complete, so a ``kill -9`` at any
moment leaves either the old set of checkpoints or the new one, never a half-written one. Written files
and folders get the modes the umask gives (``0o666 & ~umask``, ``0o777 & ~umask``), whatever the writing
library chose for its temporary file, so a model written by one user loads for another. Loading
never executes code: weights come from safetensors and the training state from
``torch.load(weights_only=True)``; state dicts load with ``strict=True``.
"""

from __future__ import annotations

import fcntl
import os
import random
import re
import shutil
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import safetensors.torch
import torch

from .errors import UserError

Tensor = torch.Tensor
CONFIG_NAME = "config.yaml"
STATE_NAME = "training_state.pt"
_STEP_DIR = re.compile(r"^step_(\d+)$")
_TEMPORARY = re.compile(r"^\..+\.tmp-(\d+)$")  # .NAME.tmp-PID: a write in progress by process PID
LOCK_NAME = ".audiogan.lock"


def umask() -> int:
    """The process's umask, read from ``/proc`` where it exists (setting it to read it races other threads)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def cannot_write(err: OSError, target: str | Path) -> OSError:
    """``err`` (raised on a temporary file, or by a library that names no file) as the error of writing
    ``target``: ``TARGET: cannot write: No space left on device``."""
    return OSError(err.errno, f"cannot write: {err.strerror or err}", str(target))


def check_output_file(path: str | Path, error: type[UserError] = UserError) -> None:
    """Refuse an output path that a rename would wrongly replace or that cannot be written: one that exists
    and is not a regular file (a device such as ``/dev/null``, a pipe, a folder), or whose folder does not
    exist. Raises ``error`` naming it; call it before long work, so that the refusal comes first."""
    path = Path(path)
    if path.is_dir():
        raise error(f"{path}: is a folder; name the output file")
    if path.exists() and not path.is_file():
        raise error(f"{path}: exists and is not a regular file (a device or pipe); refusing to replace it")
    if not path.parent.is_dir():
        raise error(f"{path.parent}: output folder does not exist")


def check_output_folder(path: str | Path) -> None:
    """Refuse an output folder's path that holds something else (a file), in one line."""
    if Path(path).exists() and not Path(path).is_dir():
        raise UserError(f"{path}: exists and is not a folder; name a folder for the output")


def make_folder(path: str | Path) -> Path:
    """Create an output folder (and its parents) if needed (:func:`check_output_folder` first)."""
    check_output_folder(path)
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    return path


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a temporary sibling ``.NAME.tmp-PID`` of ``path``, then rename it over ``path``.

    The file gets mode ``0o666 & ~umask``: some writers (safetensors) create their file ``0o600``. A path
    that exists and is not a regular file (a device, a pipe) is refused (:func:`check_output_file`): the
    rename would replace it.
    """
    path = Path(path)
    if path.exists() and not path.is_file():
        check_output_file(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~umask())
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as err:
        if err.filename is None or str(err.filename) == str(tmp):  # name what the user asked for
            raise cannot_write(err, path) from err
        raise
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


def checkpoint_step(folder: str | Path) -> int:
    """The step a checkpoint folder ``step_00000042`` was saved at (42)."""
    m = _STEP_DIR.match(Path(folder).name)
    if m is None:
        raise ValueError(f"{folder}: not a checkpoint folder name (step_NNNNNNNN)")
    return int(m.group(1))


def checkpoints(run: str | Path) -> list[Path]:
    """The complete checkpoints of ``run`` (folders holding a config), newest (highest step) first."""
    root = Path(run) / "checkpoints"
    found = [(int(m.group(1)), p) for p in root.glob("step_*")
             if (m := _STEP_DIR.match(p.name)) and (p / CONFIG_NAME).is_file()]
    return [p for _, p in sorted(found, reverse=True)]


def latest_checkpoint(run: str | Path) -> Path | None:
    """The complete checkpoint with the highest step in ``run``, or ``None``."""
    found = checkpoints(run)
    return found[0] if found else None


def prune_checkpoints(run: str | Path, keep: int) -> None:
    """Keep the ``keep`` newest step folders; remove older ones and stale temporaries."""
    root = Path(run) / "checkpoints"
    found = sorted((int(m.group(1)), p) for p in root.glob("step_*") if (m := _STEP_DIR.match(p.name)))
    for _, p in found[:-keep] if keep > 0 else []:
        shutil.rmtree(p, ignore_errors=True)
    for p in root.glob(".step_*"):
        if f"-{os.getpid()}" not in p.name:
            shutil.rmtree(p, ignore_errors=True)


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists (one of another user counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Remove the ``.NAME.tmp-PID`` files and folders under ``folder`` whose writing process is gone (a
    ``kill -9`` or a power cut mid-write); returns them. Those of live processes are left alone."""
    removed = []
    for p in sorted(Path(folder).rglob(".*.tmp-*")):
        m = _TEMPORARY.match(p.name)
        if m and int(m.group(1)) != os.getpid() and not pid_alive(int(m.group(1))):
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
            removed.append(p)
    return removed


class FolderLock:
    """One process at a time writes into a folder: ``FOLDER/.audiogan.lock`` holds its PID under an ``flock``.

    The kernel drops an ``flock`` when its process dies, so the lock of a killed run is simply taken
    over; the file is removed when the holder is done. A second process gets a :class:`UserError`
    naming the process that holds the folder.
    """

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self._fd: int | None = None

    def __enter__(self) -> "FolderLock":
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            except OSError as err:  # a read-only or full disk, a folder of another user
                raise OSError(err.errno, f"cannot write: {err.strerror}", str(self.folder)) from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
                os.close(fd)
                raise UserError(f"{self.folder}: in use by another audiogan run (process {holder}); wait for it "
                                "to end or choose another output folder") from None
            try:  # the holder may have removed the file between our open and our lock: lock the one there now
                current = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                current = False
            if current:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            self.path.unlink(missing_ok=True)  # before unlocking: a waiter then locks a fresh file
            os.close(self._fd)
            self._fd = None
