"""audiogan: very deep GANs that enhance synthetic and degraded speech, on a shared GAN core."""

__version__ = "0.1.0"
__all__ = ["Enhancer", "__version__"]


def __getattr__(name: str):
    # Lazy, so that `audiogan --help` and the toy benchmark do not import the audio stack.
    if name == "Enhancer":
        from .audio.enhance.enhancer import Enhancer

        return Enhancer
    raise AttributeError(f"module 'audiogan' has no attribute {name!r}")
