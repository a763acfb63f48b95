"""Training: optimizers and the training loop over the backend's training step."""
