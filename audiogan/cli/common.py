"""What every command shares: the two consoles and the translation of errors into one line and an exit code.

Exit codes: 0 done; 1 the system failed us (a file or folder that cannot be read or written, a full or
read-only disk: the message names the path and the cause, e.g. ``ENOSPC``); 2 the input, an option or a
config cannot be used (a :class:`~audiogan.errors.UserError`, or an option value the command line
refuses); 3 a bug in audiogan (any other exception: one line saying so, and the traceback with
``--debug`` or ``AUDIOGAN_DEBUG=1``); 130 interrupted (Ctrl-C or SIGTERM).

A folder run (``enhance DIR``) goes on past a file that fails and then exits with the code of its worst
failure: 3 if any was a bug, else 1 if any was a system error, else 2 (bad inputs).
"""

from __future__ import annotations

import errno
import logging
import os
import re
import signal
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import typer
from rich.console import Console
from typer.core import TyperGroup

from .. import __version__
from ..errors import UserError, first_line

# soft_wrap: a line is never cut at the console's width (80 columns when piped), so paths stay whole
err = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)
EXIT_SYSTEM, EXIT_USER, EXIT_BUG, EXIT_INTERRUPTED = 1, 2, 3, 130
DEBUG_ENV = "AUDIOGAN_DEBUG"
_invocation = {"debug": False}  # set by the top-level callback on every invocation


def set_debug(value: bool) -> None:
    _invocation["debug"] = value


def debug_enabled() -> bool:
    """``--debug`` was given (or ``AUDIOGAN_DEBUG`` is set to a true value)."""
    return _invocation["debug"] or os.environ.get(DEBUG_ENV, "").lower() in ("1", "true", "yes", "on")


def one_line(text: str) -> str:
    """``text`` with its control characters escaped (a tab or newline in a file name stays on one line)."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in str(text))


def report_rows(verb: str, rows: Iterable[tuple[str, str]]) -> int:
    """One line on stderr per ``(path, reason)``: ``failed x.wav: reason``; returns how many."""
    n = 0
    for path, reason in rows:
        err.print(f"{verb} {one_line(path)}: {one_line(reason)}", highlight=False, soft_wrap=True, markup=False)
        n += 1
    return n


def fail(message: str) -> None:
    err.print("[red]error:[/red] ", end="", highlight=False)
    err.print(one_line(message), highlight=False, soft_wrap=True, markup=False)


def warn(message: str) -> None:
    err.print("[yellow]warning:[/yellow] ", end="", highlight=False)
    err.print(one_line(message), highlight=False, soft_wrap=True, markup=False)


def system_error_message(e: OSError) -> str:
    """``PATH: cannot write: No space left on device (ENOSPC)``: the path, what failed, the cause and its
    errno name, where the exception knows them."""
    cause = e.strerror or first_line(e)
    name = errno.errorcode.get(e.errno or 0)
    text = f"{cause} ({name})" if name and name not in cause else cause
    return f"{e.filename}: {text}" if e.filename else text


class _WarningHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        warn(record.getMessage())


def install_handlers() -> None:
    """For one CLI invocation: library warnings (``logging``) print as ``warning: ...`` lines on stderr, and
    SIGTERM stops a command as Ctrl-C does (temporary files removed, exit 130)."""
    logger = logging.getLogger("audiogan")
    if not any(isinstance(h, _WarningHandler) for h in logger.handlers):
        handler = _WarningHandler(logging.WARNING)
        logger.addHandler(handler)
    if logger.level == logging.NOTSET or logger.level > logging.WARNING:
        logger.setLevel(logging.WARNING)
    if threading.excepthook is not _thread_failed:
        _previous_hook["hook"] = threading.excepthook
        threading.excepthook = _thread_failed
    try:
        signal.signal(signal.SIGTERM, _interrupt)
    except ValueError:  # not the main thread (an embedding application): leave its handlers alone
        pass


_previous_hook: dict[str, Callable[[threading.ExceptHookArgs], Any]] = {}


def _thread_failed(args: threading.ExceptHookArgs) -> None:
    """TensorBoard's event-writer thread failing on a full or read-only disk prints one ``warning:`` line,
    not a traceback (the command then fails naming the path). Every other thread's exception goes to the
    hook that was there before."""
    writer_thread = args.thread is not None and type(args.thread).__module__.startswith("tensorboard.")
    if writer_thread and isinstance(args.exc_value, OSError) and not debug_enabled():
        warn(f"TensorBoard's writer: {system_error_message(args.exc_value)}")
    else:
        _previous_hook.get("hook", threading.__excepthook__)(args)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


class FullShortHelp(TyperGroup):
    """A command group whose command list shows each command's first clause whole (up to its first ". ",
    "; " or ": ", wrapped to the width), where click cuts its help at the column's width with "..."."""

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.short_help and command.help:
                paragraph = command.help.strip().split("\n\n")[0]
                command.short_help = re.split(r"[.;:] ", " ".join(paragraph.split()))[0].rstrip(".")
        super().format_commands(ctx, formatter)


class OneLineErrors(FullShortHelp):
    """The command group of ``audiogan``: an option value it refuses (``--batch-size 0``, a missing option)
    prints one ``error:`` line naming the option and exits 2, like every other user error."""

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        try:  # typer >= 0.2x carries its own copy of click
            from typer._click import exceptions as click_errors
        except ImportError:  # pragma: no cover
            from click import exceptions as click_errors

        try:
            code = super().main(*args, standalone_mode=False, **kwargs)
        except click_errors.UsageError as e:
            hint = f" (see '{e.ctx.command_path} --help')" if e.ctx is not None else ""
            fail(e.format_message() + hint)
            sys.exit(e.exit_code)
        except click_errors.ClickException as e:
            fail(e.format_message())
            sys.exit(e.exit_code)
        except typer.Abort:
            err.print("interrupted")
            sys.exit(EXIT_INTERRUPTED)
        sys.exit(code if isinstance(code, int) else 0)


@contextmanager
def user_errors() -> Iterator[None]:
    """Run a command's body: errors a user can fix become one line; anything else is reported as a bug."""
    try:
        yield
    except (typer.Exit, typer.Abort):  # deliberate exits, not error messages
        raise
    except UserError as e:
        fail(first_line(e))
        raise typer.Exit(EXIT_USER) from None
    except OSError as e:
        fail(system_error_message(e))
        raise typer.Exit(EXIT_SYSTEM) from None
    except KeyboardInterrupt:
        err.print("interrupted")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except Exception as e:
        if debug_enabled():
            raise
        fail(f"internal error: a bug in audiogan {__version__}, please report it ({type(e).__name__}: "
             f"{first_line(e)}); run again with --debug (or {DEBUG_ENV}=1) for the traceback")
        raise typer.Exit(EXIT_BUG) from None


def run_script(main: Callable[[], Any]) -> None:
    """Run a ``scripts/*.py`` entry point as a command runs: a user error (a missing cache, a bad config) is one
    ``error:`` line and exit 2, a system error exit 1, Ctrl-C exit 130. Anything else is shown with its
    traceback at once (exit 1): a measurement that fails hours in should not have to be run again to see why."""
    set_debug(True)
    install_handlers()
    try:
        with user_errors():
            main()
    except typer.Exit as e:
        sys.exit(e.exit_code)


def refuse_finished_run(folder: Path, overwrite: bool) -> None:
    """``toy train`` and ``image train`` write a whole run at once: a folder that holds a finished one
    (``metrics.json``) is kept unless ``--overwrite`` is given, as ``train`` and ``export`` keep theirs. With
    it, the old ``metrics.json`` goes first, so that a new run stopped part-way is not taken for finished."""
    metrics = Path(folder) / "metrics.json"
    if metrics.is_file():
        if not overwrite:
            raise UserError(f"{folder}: already holds a finished run; choose another --out, or pass --overwrite")
        metrics.unlink()


def transient_progress() -> Any:
    """A progress bar on stderr that is gone when done; when stderr is not a terminal (a log file, a pipe)
    it shows nothing at all, rather than the blank line that rich leaves behind there."""
    from rich.progress import Progress

    return Progress(console=err, transient=True, disable=not err.is_terminal)
