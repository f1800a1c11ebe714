"""The errors a user can cause, and can fix: the CLI prints their message as one line.

Every other exception that reaches the CLI is a bug in audiogan: the CLI says so in one line and shows
the traceback with ``--debug`` (or ``AUDIOGAN_DEBUG=1``).
"""

from __future__ import annotations


def first_line(err: BaseException) -> str:
    """The first line of an exception's message (its type's name when the message is empty): how one
    error is shown in a one-line message or a report row."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


class UserError(Exception):
    """A problem with what the user gave (a file, a config, an option); the message is one line."""


class ConfigError(UserError, ValueError):
    """A config or option value that cannot be used; the message names the key and its source."""


class AudioError(UserError, ValueError):
    """An input that is not usable audio; the message is one line naming the file."""


class DataError(UserError, ValueError):
    """A training or evaluation corpus that cannot be used (no usable files, no pairs)."""


class ToolError(UserError, RuntimeError):
    """An external program that is missing or failed (flite, codec2, ffmpeg, ...)."""
