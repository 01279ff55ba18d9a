"""Explicit approximate density: variational autoencoders (``density == "bound"``)."""
