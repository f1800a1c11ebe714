"""Speech quality measures, folder evaluations and their figures."""
