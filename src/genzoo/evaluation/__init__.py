"""Evaluation: likelihoods in nats and bits/dim, sample quality on features (FID, KID, precision/
recall, density/coverage), and continuous-space likelihood estimates (Parzen windows, AIS).

The submodules ``ais``, ``feature_metrics``, ``parzen`` and ``features`` hold the estimators on
plain tensors; the ``evaluate_*`` functions apply them to a model and its dataset."""

from genzoo.evaluation.ais import ais_log_likelihood
from genzoo.evaluation.comparison import density_comparison, density_table
from genzoo.evaluation.continuous import ais_decoder, evaluate_ais, evaluate_parzen, to_unit_cube
from genzoo.evaluation.feature_metrics import (
    density_coverage,
    frechet_distance,
    kernel_distance,
    precision_recall,
)
from genzoo.evaluation.features import feature_network, inception_features, load_features
from genzoo.evaluation.likelihood import bits_per_dim, evaluate_likelihood
from genzoo.evaluation.parzen import parzen_estimate, parzen_log_density, select_bandwidth
from genzoo.evaluation.run_evaluation import evaluate_run
from genzoo.evaluation.sample_quality import draw_samples, evaluate_sample_quality
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
    "ais_decoder",
    "ais_log_likelihood",
    "bits_per_dim",
    "cluster",
    "cluster_table",
    "density_comparison",
    "density_coverage",
    "density_table",
    "draw_samples",
    "embed",
    "evaluate_ais",
    "evaluate_likelihood",
    "evaluate_parzen",
    "evaluate_run",
    "evaluate_sample_quality",
    "feature_network",
    "frechet_distance",
    "inception_features",
    "kernel_distance",
    "linear_probe",
    "load_features",
    "model_features",
    "parzen_estimate",
    "parzen_log_density",
    "plot_embedding",
    "precision_recall",
    "probe",
    "probe_table",
    "save_coordinates",
    "select_bandwidth",
    "to_unit_cube",
]
