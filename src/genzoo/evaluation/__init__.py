"""Evaluation: likelihoods in nats and bits/dim (sample-quality metrics come later)."""

from genzoo.evaluation.comparison import density_comparison, density_table
from genzoo.evaluation.likelihood import bits_per_dim, evaluate_likelihood
from genzoo.evaluation.report import evaluate_run
from genzoo.evaluation.unsupervised import (
    cluster,
    cluster_table,
    embed,
    linear_probe,
    model_features,
    plot_embedding,
    probe,
    probe_table,
    save_coordinates,
)

__all__ = [
    "bits_per_dim",
    "cluster",
    "cluster_table",
    "density_comparison",
    "density_table",
    "embed",
    "evaluate_likelihood",
    "evaluate_run",
    "linear_probe",
    "model_features",
    "plot_embedding",
    "probe",
    "probe_table",
    "save_coordinates",
]
