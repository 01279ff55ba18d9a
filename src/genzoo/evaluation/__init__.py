"""Evaluation: likelihoods in nats and bits/dim (sample-quality metrics come later)."""

from genzoo.evaluation.likelihood import bits_per_dim, evaluate_likelihood
from genzoo.evaluation.report import evaluate_run

__all__ = ["bits_per_dim", "evaluate_likelihood", "evaluate_run"]
