"""The ``audiogan`` command line: thin commands over library functions, one module per command group.

Errors a user can cause (a bad name, a missing file, a bad config, an option value) print one line on
stderr and exit with a non-zero code (see :mod:`audiogan.cli.common`); they never show a traceback. Help
is plain text that reflows to the terminal, with boolean options shown as flags.
"""

from __future__ import annotations

import sys

import typer

from .. import __version__
from . import audio, demo, diagnose
from .common import OneLineErrors, install_handlers, out, set_debug
from .corpus import corpus_app
from .image import image_app
from .toy import toy_app

app = typer.Typer(help="audiogan: GANs that enhance speech, and the GAN stability remedies they stand on.",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False,
                  cls=OneLineErrors, rich_markup_mode=None)


def _print_version(value: bool) -> None:
    if value:
        out.print(f"audiogan {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                 help="Print the version and exit."),
    debug: bool = typer.Option(False, "--debug", help="Show the traceback of an internal error (a bug)."),
) -> None:
    """audiogan: GANs that enhance speech, and the GAN stability remedies they stand on."""
    set_debug(debug)
    install_handlers()


@app.command()
def version() -> None:
    """Print the audiogan version."""
    out.print(__version__)


audio.register(app)
diagnose.register(app)
app.command("demo")(demo.demo)
app.add_typer(corpus_app, name="corpus")
app.add_typer(toy_app, name="toy")
app.add_typer(image_app, name="image")

if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
