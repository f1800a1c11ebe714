"""``audiogan demo``: a local web page to hear what audiogan does (optional extra ``audiogan[demo]``).

A front-end like :mod:`audiogan.cli`: it combines the applications (the enhancer, the degradation
simulator, the metrics, the 2-D benchmark) and no application imports it.

- :mod:`audiogan.demo.handlers`: what the page does, as plain functions over files (no Gradio import):
  check an upload against the limits, degrade it with the simulator, enhance it through the same
  segment-streamed path as ``audiogan enhance``, score and draw it. Errors are the library's own, shown as
  the CLI's one-line messages (:func:`~audiogan.demo.handlers.error_message`).
- :mod:`audiogan.demo.live`: a 2-D benchmark recipe trained live, a picture of its samples at every log
  point.
- :mod:`audiogan.demo.app`: the Gradio page over those functions (``build_app``, ``launch``), whose events
  are also the API that ``gradio_client`` calls (``/enhance``, ``/toy``).
"""
