"""The 2-D mode-coverage benchmark (ring and grid Gaussian mixtures) on the shared GAN core."""
