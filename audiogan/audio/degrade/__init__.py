"""The degradation simulator: codecs, vocoder-like resynthesis and signal-level damage, by name."""
