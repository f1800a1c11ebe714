"""audiogan: very deep GANs that enhance synthetic and degraded speech, on a shared GAN core."""

__version__ = "0.1.0"
