"""What every command shares: the two consoles and the translation of errors into one line and an exit code.

Exit codes: 0 done; 1 the system failed us (a file that cannot be read or written, a full disk); 2 the
input or a config cannot be used (a :class:`~audiogan.errors.UserError`); 3 a bug in audiogan (any other
exception: one line saying so, and the traceback with ``--debug`` or ``AUDIOGAN_DEBUG=1``); 130
interrupted.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterable, Iterator

import typer
from rich.console import Console

from .. import __version__
from ..errors import UserError

err = Console(stderr=True)
out = Console()
DEBUG_ENV = "AUDIOGAN_DEBUG"
_invocation = {"debug": False}  # set by the top-level callback on every invocation


def set_debug(value: bool) -> None:
    _invocation["debug"] = value


def debug_enabled() -> bool:
    """``--debug`` was given (or ``AUDIOGAN_DEBUG`` is set to a true value)."""
    return _invocation["debug"] or os.environ.get(DEBUG_ENV, "").lower() in ("1", "true", "yes", "on")


def first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def report_rows(verb: str, rows: Iterable[tuple[str, str]]) -> int:
    """One line on stderr per ``(path, reason)``: ``failed x.wav: reason``; returns how many."""
    n = 0
    for path, reason in rows:
        err.print(f"{verb} {path}: {reason}", highlight=False, soft_wrap=True, markup=False)
        n += 1
    return n


def fail(message: str) -> None:
    err.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)


@contextmanager
def user_errors() -> Iterator[None]:
    """Run a command's body: errors a user can fix become one line; anything else is reported as a bug."""
    try:
        yield
    except (typer.Exit, typer.Abort):  # deliberate exits, not error messages
        raise
    except UserError as e:
        fail(first_line(e))
        raise typer.Exit(2) from None
    except OSError as e:
        fail(first_line(e))
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        err.print("interrupted")
        raise typer.Exit(130) from None
    except Exception as e:
        if debug_enabled():
            raise
        fail(f"internal error: a bug in audiogan {__version__}, please report it ({type(e).__name__}: "
             f"{first_line(e)}); run again with --debug (or {DEBUG_ENV}=1) for the traceback")
        raise typer.Exit(3) from None
