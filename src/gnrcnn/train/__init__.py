"""Training: the loop, its set-up and its checkpoints, one process or many (torchrun)."""
