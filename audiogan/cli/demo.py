"""``audiogan demo``: a local web page to hear what the enhancer does (optional extra ``audiogan[demo]``)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..errors import UserError
from .common import out, user_errors


def demo(
    model: Optional[list[Path]] = typer.Option(None, "--model", metavar="DIR",
                                               help="a model folder to offer (what `export` writes) or a shipped "
                                               "model's name; repeat for more; the first is selected. The shipped "
                                               "models are always offered"),
    port: int = typer.Option(7860, "--port", min=1, max=65535, help="port to serve on"),
    host: str = typer.Option("127.0.0.1", "--host", help="address to serve on (0.0.0.0: every interface; the "
                             "page has no login)"),
    share: bool = typer.Option(False, "--share", help="also open a public Gradio share link (off by default; "
                               "needs the internet)"),
    device: str = typer.Option("auto", help="auto | cpu | cuda"),
    max_mb: float = typer.Option(50.0, "--max-mb", help="largest upload, in megabytes; larger ones are refused"),
    max_seconds: float = typer.Option(600.0, "--max-seconds", help="longest upload, in seconds; longer ones "
                                      "are refused"),
) -> None:
    """Serve a web page to hear what audiogan does: upload or record speech, degrade it, enhance it, listen to
    input and output side by side with spectrograms and scores; and a tab that trains the 2-D benchmark live.

    Its events are also an API that gradio_client calls (see README.md, "Demo"). Stop with Ctrl-C.
    """
    from ..demo.handlers import Demo, Limits, model_choices
    from ..runtime import resolve_device

    with user_errors():
        from ..demo.app import require_gradio, launch

        require_gradio()
        resolve_device(device)  # an unknown device is refused before the page starts
        limits = Limits(max_mb=max_mb, max_seconds=max_seconds)
        choices = model_choices(model or [])
        state = Demo(choices, limits, device=device, default=str(model[0]) if model else None)
        try:
            state.warm_up()  # the selected model loads now: a folder that does not load fails here, in one line
            if _port_in_use(host, port):  # before "starting on": a busy port is the only thing said
                raise UserError(f"port {port} on {host} is in use: choose another with --port")
            out.print(f"audiogan demo: starting on http://{host}:{port} (Ctrl-C to stop)", markup=False,
                      highlight=False)
            try:
                launch(state, host=host, port=port, share=share)
            except OSError as err:
                if "empty port" not in str(err):
                    raise
                raise UserError(f"port {port} on {host} is in use: choose another with --port") from None
            # Gradio serves until Ctrl-C or SIGTERM, which it catches to close the server: exit as interrupted
            raise KeyboardInterrupt
        finally:
            state.close()


def _port_in_use(host: str, port: int) -> bool:
    """Whether binding ``host:port`` fails because something listens there (other failures are left to
    the server, which reports them itself)."""
    import errno
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        return False
    for family, kind, proto, _, address in infos:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as err:
                if err.errno == errno.EADDRINUSE:
                    return True
    return False
