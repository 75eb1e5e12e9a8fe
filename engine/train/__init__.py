"""Training: the backprop trainer, its settings, losses and devices, and the pipeline that prepares a run."""
