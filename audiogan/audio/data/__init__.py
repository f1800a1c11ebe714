"""Audio I/O, corpus files, synthetic speech and the training dataset."""
