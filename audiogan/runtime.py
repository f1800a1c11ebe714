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
