"""The Gradio page of ``audiogan demo`` over :mod:`audiogan.demo.handlers` (needs ``audiogan[demo]``).

Two tabs: "Enhance speech" (upload or record, pick a model, optionally degrade, enhance, listen to input
and output side by side, spectrograms and scores) and "2-D benchmark, live" (train a recipe and watch its
samples over the modes). Every event that does work is also an API endpoint that ``gradio_client`` can
call: ``/enhance`` returns ``(input audio, enhanced audio, spectrogram image, scores)``, and ``/toy``
yields ``(samples image, status line)`` as the run trains.

An error never shows a traceback: the page shows the one line the CLI would print (an error modal), the
server's console logs that line (and the traceback of a bug when started with ``--debug``).
"""

# No `from __future__ import annotations`: Gradio reads the handlers' `request: gr.Request` annotations
# as objects to know which argument to fill in with the request.
import html
import logging
import os
import threading
from typing import Iterator

from .handlers import NO_DEGRADATION, Demo, degradation_choices, error_message
from .live import MAX_TOY_ITERATIONS, toy_choices, toy_iterations

log = logging.getLogger(__name__)
DEFAULT_TOY_RECIPE = "wgan-gp"  # trains in 1,500 iterations: a run takes a minute or so on a CPU core

INTRO = """# audiogan demo
Upload or record speech, optionally degrade it with the simulator to hear what the model fixes, and
enhance it. Input and output play side by side; the scores need the `eval` extra (DNSMOS needs no
reference; PESQ, STOI and SI-SDR are taken against the clean reference: the one you upload, or your upload
itself when the degradation is applied here)."""


def require_gradio():
    from ..errors import UserError

    try:
        import gradio as gr
    except ImportError:
        raise UserError("the demo needs gradio: pip install 'audiogan[demo]'") from None
    return gr


def _page_error(gr, err: BaseException):
    """The ``gr.Error`` the page shows for ``err``: the CLI's one line, escaped (the modal renders HTML, and a
    file name is the user's text), with no traceback on the console for an error a user caused."""
    from ..cli.common import debug_enabled
    from ..errors import UserError

    message = error_message(err)
    bug = not isinstance(err, (UserError, OSError))
    log.error("demo: %s", message, exc_info=err if bug and debug_enabled() else None)
    return gr.Error(html.escape(message, quote=False), print_exception=False)


def build_app(demo: Demo):
    """The page (a ``gradio.Blocks``) over ``demo``, to ``launch``."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no network calls of its own
    gr = require_gradio()
    mixtures, recipes = toy_choices()
    recipe0 = DEFAULT_TOY_RECIPE if DEFAULT_TOY_RECIPE in recipes else recipes[0]
    stops: dict[str, threading.Event] = {}  # per browser session: the live run's stop flag

    def enhance(audio, model, degradation, strength, seed, reference=None):  # None: optional in the API
        try:
            r = demo.enhance(audio, model, degradation, strength, seed, reference)
        except Exception as err:
            raise _page_error(gr, err) from None
        return str(r.input_audio), str(r.output_audio), str(r.spectrogram), r.scores

    def toy(data, recipe, iterations, seed, request: gr.Request) -> Iterator[tuple[str, str]]:
        key = getattr(request, "session_hash", None) or "api"
        if key in stops:
            stops[key].set()  # one live run per page: a new one stops the last
        stop = stops[key] = threading.Event()
        try:
            for frame in demo.toy(data, recipe, iterations, seed, stop=stop):
                yield str(frame.image), frame.text()
        except Exception as err:
            raise _page_error(gr, err) from None
        finally:
            stop.set()
            if stops.get(key) is stop:
                del stops[key]

    def stop_toy(request: gr.Request) -> None:
        key = getattr(request, "session_hash", None) or "api"
        if key in stops:
            stops[key].set()

    def recipe_iterations(recipe):
        try:
            return gr.update(value=min(toy_iterations(recipe), MAX_TOY_ITERATIONS))
        except Exception:  # a recipe that cannot be read: the Train button will say why
            return gr.update()

    limits = demo.limits
    with gr.Blocks(title="audiogan demo", analytics_enabled=False, delete_cache=(1800, 3600)) as page:
        gr.Markdown(INTRO)
        with gr.Tab("Enhance speech"):
            with gr.Row():
                with gr.Column(scale=1):
                    audio = gr.Audio(sources=["upload", "microphone"], type="filepath", elem_id="upload",
                                     label=f"Speech: upload or record (up to {limits.max_mb:g} MB and "
                                           f"{limits.max_seconds:g} s)")
                    model = gr.Dropdown(list(demo.models), value=demo.default_model, label="Model")
                    with gr.Row():
                        degradation = gr.Dropdown(degradation_choices(), value=NO_DEGRADATION,
                                                  label="Degrade first (the simulator)")
                        strength = gr.Slider(0.0, 1.0, value=0.5, step=0.05, label="Strength")
                        seed = gr.Number(1, precision=0, label="Seed")
                    reference = gr.Audio(sources=["upload"], type="filepath", elem_id="reference",
                                         label="Clean reference (optional: PESQ, STOI, SI-SDR)")
                    run = gr.Button("Enhance", variant="primary", elem_id="enhance")
                with gr.Column(scale=2):
                    with gr.Row():
                        heard = gr.Audio(type="filepath", label="Input (as enhanced)", interactive=False,
                                         elem_id="input-audio")
                        enhanced = gr.Audio(type="filepath", label="Enhanced", interactive=False,
                                            elem_id="output-audio")
                    picture = gr.Image(type="filepath", label="Spectrograms", interactive=False,
                                       elem_id="spectrograms")
                    scores = gr.JSON(label="Scores", elem_id="scores")
            run.click(enhance, [audio, model, degradation, strength, seed, reference],
                      [heard, enhanced, picture, scores], api_name="enhance")
        with gr.Tab("2-D benchmark, live"):
            gr.Markdown("Train a recipe of the 2-D benchmark (`configs/toy/`) and watch its samples (blue) "
                        "over the true modes (red): a remedy that works covers every mode.")
            with gr.Row():
                with gr.Column(scale=1):
                    data = gr.Radio(mixtures, value=mixtures[0], label="Data")
                    recipe = gr.Dropdown(recipes, value=recipe0, label="Recipe", elem_id="toy-recipe")
                    iterations = gr.Slider(100, MAX_TOY_ITERATIONS, step=100, label="Iterations",
                                           elem_id="toy-iterations",
                                           value=min(toy_iterations(recipe0), MAX_TOY_ITERATIONS))
                    toy_seed = gr.Number(1, precision=0, label="Seed")
                    with gr.Row():
                        train = gr.Button("Train", variant="primary", elem_id="toy-train")
                        halt = gr.Button("Stop", elem_id="toy-stop")
                with gr.Column(scale=2):
                    samples = gr.Image(type="filepath", label="Samples", interactive=False, elem_id="toy-samples")
                    status = gr.Textbox(label="Status", interactive=False, elem_id="toy-status")
            training = train.click(toy, [data, recipe, iterations, toy_seed], [samples, status], api_name="toy",
                                   concurrency_limit=1)
            halt.click(stop_toy, None, None, cancels=[training], api_name=False)
            recipe.change(recipe_iterations, recipe, iterations, api_name=False)
    page.audiogan_demo = demo
    return page


def launch(demo: Demo, host: str = "127.0.0.1", port: int | None = 7860, share: bool = False,
           block: bool = True):
    """Build the page and serve it; returns the page (with ``block=False``, serving in the background:
    ``page.local_url``, ``page.close()``)."""
    page = build_app(demo)
    # Over --max-mb the handler refuses an upload with the CLI's kind of line; far over it (twice the limit, and
    # 10 MB more at least) Gradio refuses the transfer itself ("File(s) exceed the maximum allowed size"), so
    # that no upload can fill the disk.
    hard_cap = int(max(2 * demo.limits.max_mb, demo.limits.max_mb + 10) * 1e6)
    page.queue(default_concurrency_limit=1)
    page.launch(server_name=host, server_port=port, share=share, prevent_thread_lock=not block,
                max_file_size=hard_cap, allowed_paths=[str(demo.workdir)], ssr_mode=False, show_error=False,
                quiet=not block)
    return page
