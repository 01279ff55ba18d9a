"""Explicit tractable density: autoregressive models."""
