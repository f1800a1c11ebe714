"""YAML configs validated into typed objects by pydantic, with one-line errors that name the key.

Config types live beside their models (``audiogan/toy/model.py``, ``audiogan/gan/trainer.py``, ...);
this module only loads, validates, dumps and compares them. Every type forbids unknown keys.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterable, TypeVar

import pydantic
import yaml

from .errors import ConfigError

T = TypeVar("T")
__all__ = ["ConfigError", "check_resume_config", "config_diff", "dump_yaml", "load_config", "parse_config", "to_dict"]


def _loc(loc: tuple) -> str:
    return ".".join(str(p) for p in loc) or "<root>"


# A config type's own check names its field first ("lr must be > 0, got -1"): the key is then the full path
_FIELD_FIRST = re.compile(r"^([A-Za-z_]\w*) (must .*)$")


def format_validation_error(err: pydantic.ValidationError, source: str) -> str:
    """One line: the first problem with its dotted key path, and how many more there are, with theirs."""
    errors = err.errors()
    first = errors[0]
    key = _loc(first["loc"])
    if first["type"] in ("extra_forbidden", "unexpected_keyword_argument"):
        msg = f"unknown key '{key}'"
    elif first["type"] in ("missing", "missing_argument"):
        msg = f"missing key '{key}'"
    elif first["type"] == "union_tag_invalid":  # a discriminated union: the kind names no known type
        ctx = first.get("ctx", {})
        msg = f"unknown kind {ctx.get('tag')!r} for '{key}'; valid: {ctx.get('expected_tags')}"
    else:
        text = first["msg"].removeprefix("Value error, ")
        if first["type"] == "value_error" and (m := _FIELD_FIRST.match(text)):
            key, text = f"{key}.{m.group(1)}" if first["loc"] else m.group(1), m.group(2)
        msg = f"bad value for '{key}': {text}"
    others = [_loc(e["loc"]) for e in errors[1:]]
    shown = ", ".join(f"'{k}'" for k in others[:3]) + (", ..." if len(others) > 3 else "")
    more = f" (and {len(others)} more: {shown})" if others else ""
    return f"{source}: {msg}{more}"


def parse_config(data: Any, config_type: type[T], source: str = "<config>") -> T:
    """Validate a plain mapping into ``config_type``; raises :class:`ConfigError` on any problem."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of keys to values, got {type(data).__name__}")
    try:
        return pydantic.TypeAdapter(config_type).validate_python(data)
    except pydantic.ValidationError as err:
        raise ConfigError(format_validation_error(err, source)) from None


def load_config(path: str | Path, config_type: type[T]) -> T:
    """Read a YAML file into ``config_type``."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: cannot read: {err}") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}: not valid YAML{where}") from None
    if data is None:  # an empty file: running on every default is rarely what was meant
        raise ConfigError(f"{path}: the config is empty; give at least one key")
    return parse_config(data, config_type, str(path))


def to_dict(config: Any) -> dict[str, Any]:
    """The resolved config as plain JSON-compatible data (every default filled in)."""
    return pydantic.TypeAdapter(type(config)).dump_python(config, mode="json", by_alias=True)


def dump_yaml(config: Any) -> str:
    return yaml.safe_dump(to_dict(config), sort_keys=False)


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for k, v in data.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    return {prefix.rstrip("."): data}


def config_diff(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Lines ``key: old -> new`` for every leaf that differs (``<absent>`` where one side lacks it)."""
    a, b = _flatten(old), _flatten(new)
    lines = []
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key, "<absent>"), b.get(key, "<absent>")
        if va != vb:
            lines.append(f"{key}: {va!r} -> {vb!r}")
    return lines


def check_resume_config(saved_yaml: str, config: Any, source: str, accept: Iterable[str] = ()) -> None:
    """Raise :class:`ConfigError` showing the difference when ``config`` differs from the saved one in any key
    but those in ``accept`` (dotted keys whose change a resumed run can take, e.g. ``steps``). The saved config
    is read with today's type first, so a run saved before a key existed resumes when the key is at its
    default."""
    accepted = set(accept)
    saved = yaml.safe_load(saved_yaml) or {}
    try:  # read with today's config type: a key added since, at its default, is no difference
        saved = to_dict(parse_config(saved, type(config), source))
    except ConfigError:  # a key that no longer exists: compare the raw text, which names it
        pass
    diff = [line for line in config_diff(saved, to_dict(config)) if line.split(": ", 1)[0] not in accepted]
    if diff:
        raise ConfigError(f"{source}: config differs from the run being resumed: " + "; ".join(diff))
