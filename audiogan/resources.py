"""Files that ship with audiogan: the model folders of ``models/`` and the recipes of ``configs/``.

The top-level ``models/`` and ``configs/`` folders of the repository are mapped into the wheel as package
data under ``audiogan/_shipped/`` (see ``pyproject.toml``), so an installed package finds its default model
and recipes without a checkout; they are looked up with :mod:`importlib.resources`. An editable install or
a checkout on ``sys.path`` has no ``_shipped`` folder and uses the repository's folders instead.
``$AUDIOGAN_MODELS`` overrides where shipped models are looked for.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

SHIPPED = "_shipped"
_CHECKOUT = Path(__file__).resolve().parent.parent


def shipped_dir(kind: str) -> Path:
    """The folder of shipped ``models`` or ``configs``."""
    if kind not in ("models", "configs"):
        raise ValueError(f"unknown kind of shipped files {kind!r}")
    if kind == "models" and os.environ.get("AUDIOGAN_MODELS"):
        return Path(os.environ["AUDIOGAN_MODELS"])
    packaged = resources.files("audiogan").joinpath(SHIPPED, kind)
    if packaged.is_dir():
        return Path(str(packaged))
    return _CHECKOUT / kind


def models_dir() -> Path:
    """Where shipped model folders live (one folder per model)."""
    return shipped_dir("models")


def configs_dir() -> Path:
    """Where shipped recipes live (``base.yaml``, ``toy/*.yaml``, ...)."""
    return shipped_dir("configs")
