"""Training: the trainer loop, checkpoints, the run folder and hardware choices."""
