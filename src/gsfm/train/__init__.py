"""Training: losses, samplers, the DDP trainer."""
