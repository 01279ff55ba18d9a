"""Deterministic regression baselines of image-conditional tasks, written as the Gaussian
likelihood they assume (so they are scored like every generative model)."""
