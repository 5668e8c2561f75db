"""Fitting a detector: the training loop (trainer), its steps, its evaluations, where a run starts or continues
(state) and what it records (results)."""
