"""Training: losses, configuration, the training loop."""
