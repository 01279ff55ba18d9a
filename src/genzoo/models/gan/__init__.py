"""Implicit density: generative adversarial networks (``density == "none"``)."""
