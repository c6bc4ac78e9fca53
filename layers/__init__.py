"""Layers, models, losses, metrics, callbacks, the training loop and save/load."""
