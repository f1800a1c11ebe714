"""Image DCGANs on the shared GAN core, scored for mode coverage on real handwritten digits."""
