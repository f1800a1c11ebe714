"""Speech corpora that install offline: rendered (flite, espeak-ng), imported recordings, held-out sets."""
