"""Enhancing audio: the :class:`Enhancer` API, streamed files and folder trees."""
