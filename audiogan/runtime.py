"""Where models run: device names as a user gives them."""

from __future__ import annotations

import torch

from .errors import ConfigError

DEVICE_KINDS = ("auto", "cpu", "cuda", "cuda:N", "mps")


def resolve_device(name: str) -> torch.device:
    """``auto`` (CUDA when available, else CPU), ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.

    Raises :class:`ConfigError` for any other name, or a device this machine does not have.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"--device {name!r}: unknown device; valid: {', '.join(DEVICE_KINDS)}") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"--device {name}: no CUDA device is available")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(f"--device {name}: only {torch.cuda.device_count()} CUDA device(s)")
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"--device {name}: MPS is not available")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise ConfigError(f"--device {name!r}: unsupported; valid: {', '.join(DEVICE_KINDS)}")
    return device


SHORT_INPUT_SECONDS = 10.0


def choose_threads(requested: int, seconds: float, workers: int = 1) -> int:
    """CPU threads for torch: ``requested`` when it is > 0; else 1 for less than 10 s of audio in all, and
    otherwise the cores that are not busy (CPU count minus the 1-minute load average) split among
    ``workers``, at least 1.

    Measured with the shipped model on a 2-core machine with one core busy: 2 threads against 1 took
    41x longer on a 0.1 s input, 6x on 1 s, 9x on 10 s and 6x on 60 s (the second thread waits for a
    core); short inputs never gain from a second thread, whose start and synchronisation cost more than
    the work it takes.
    """
    import os

    if requested > 0:
        return requested
    if seconds < SHORT_INPUT_SECONDS:
        return 1
    cores = os.cpu_count() or 1
    try:
        idle = cores - round(os.getloadavg()[0])
    except OSError:  # no load average on this system
        idle = cores
    return max(1, min(cores, idle) // max(1, workers))
