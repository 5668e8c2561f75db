"""Fitting a detector: the training loop, its checkpoints and resume."""
